-- title: Recommendations and acceptance by CRM platform
-- requires: crm_system, product_recommendation_status
-- units: acceptance_rate=percent, acceptance_spread=percent, crm_system=text, overall_rate=percent, platforms_compared=count, recommendations=count, share=percent, vs_overall=pp
WITH base AS (
    SELECT crm_system, CASE WHEN product_recommendation_status = {{accepted}} THEN 1.0 ELSE 0.0 END AS accepted
    FROM {{table}}
    WHERE crm_system IS NOT NULL
),
overall AS (SELECT count(*) AS all_recommendations, avg(accepted) AS overall_rate FROM base),
platforms AS (
    SELECT crm_system, count(*) AS recommendations, avg(accepted) AS acceptance_rate
    FROM base
    GROUP BY crm_system
    HAVING count(*) >= {{min_group_size}}
)
SELECT crm_system, recommendations,
       recommendations / all_recommendations AS share,
       acceptance_rate, overall_rate,
       acceptance_rate - overall_rate AS vs_overall,
       max(acceptance_rate) OVER () - min(acceptance_rate) OVER () AS acceptance_spread,
       count(*) OVER () AS platforms_compared
FROM platforms, overall
ORDER BY acceptance_rate DESC, crm_system
