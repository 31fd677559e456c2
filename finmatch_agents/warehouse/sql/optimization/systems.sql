-- title: Acceptance and undecided share by {{group_label}}
-- requires: {{group_column}}, product_recommendation_status
-- units: acceptance_rate=percent, acceptance_spread=percent, accepted=count, decided=count, decided_acceptance_rate=percent, others_acceptance_rate=percent, recommendations=count, share=percent, system=text, systems=count, undecided=count, undecided_share=percent, undecided_spread=percent, vs_others=pp
WITH systems AS (
    SELECT coalesce({{group_column}}, 'Not recorded') AS system, count(*) AS recommendations,
           count(*) FILTER (WHERE product_recommendation_status = {{accepted}}) AS accepted,
           count(*) FILTER (WHERE product_recommendation_status IN ({{accepted}}, {{declined}})) AS decided,
           count(*) FILTER (WHERE product_recommendation_status IN ({{pending}}, {{in_progress}})) AS undecided
    FROM {{table}}
    GROUP BY 1
),
rates AS (
    SELECT *, recommendations / sum(recommendations) OVER () AS share,
           accepted / recommendations AS acceptance_rate,
           accepted / nullif(decided, 0) AS decided_acceptance_rate,
           undecided / recommendations AS undecided_share,
           (sum(accepted) OVER () - accepted) / nullif(sum(recommendations) OVER () - recommendations, 0)
             AS others_acceptance_rate
    FROM systems
)
SELECT system, recommendations, share, accepted, decided, undecided, acceptance_rate, decided_acceptance_rate,
       undecided_share, others_acceptance_rate,
       acceptance_rate - others_acceptance_rate AS vs_others,
       max(acceptance_rate) OVER () - min(acceptance_rate) OVER () AS acceptance_spread,
       max(undecided_share) OVER () - min(undecided_share) OVER () AS undecided_spread,
       count(*) OVER () AS systems
FROM rates
ORDER BY system
