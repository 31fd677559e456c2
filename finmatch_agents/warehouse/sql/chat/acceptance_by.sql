-- title: Acceptance rate by {{group_label}}
-- requires: {{group_column}}, product_recommendation_status
-- units: acceptance_rate=percent, accepted=count, label=text, recommendations=count, vs_overall=percent
WITH groups AS (
    SELECT {{group_column}} AS label, count(*) AS recommendations,
           count(*) FILTER (WHERE product_recommendation_status = {{accepted}}) AS accepted
    FROM {{table}}
    WHERE {{group_column}} IS NOT NULL
    GROUP BY 1
)
SELECT label, recommendations, accepted, accepted / recommendations AS acceptance_rate,
       accepted / recommendations - sum(accepted) OVER () / sum(recommendations) OVER () AS vs_overall
FROM groups
ORDER BY acceptance_rate DESC, label
