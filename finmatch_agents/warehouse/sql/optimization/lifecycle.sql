-- title: Acceptance by customer lifecycle stage (optimisation view)
-- run-variant: run/lifecycle
-- requires: customer_lifecycle_stage, product_recommendation_status
-- units: acceptance_rate=percent, acceptance_spread=percent, best_worst_ratio=times, overall_rate=percent, recommendations=count, share=percent, stage=text, vs_overall=pp
WITH stages AS (
    SELECT coalesce(customer_lifecycle_stage, 'Not recorded') AS stage, count(*) AS recommendations,
           avg(CASE WHEN product_recommendation_status = {{accepted}} THEN 1.0 ELSE 0.0 END) AS acceptance_rate
    FROM {{table}}
    GROUP BY 1
    HAVING count(*) >= {{min_group_size}}
),
overall AS (
    SELECT avg(CASE WHEN product_recommendation_status = {{accepted}} THEN 1.0 ELSE 0.0 END) AS overall_rate
    FROM {{table}}
)
SELECT stage, recommendations,
       recommendations / sum(recommendations) OVER () AS share,
       acceptance_rate,
       acceptance_rate - overall_rate AS vs_overall,
       overall_rate,
       max(acceptance_rate) OVER () - min(acceptance_rate) OVER () AS acceptance_spread,
       max(acceptance_rate) OVER () / nullif(min(acceptance_rate) OVER (), 0) AS best_worst_ratio
FROM stages, overall
ORDER BY CASE stage WHEN 'New' THEN 1 WHEN 'Growing' THEN 2 WHEN 'Mature' THEN 3 WHEN 'At Risk' THEN 4
                    WHEN 'Dormant' THEN 5 ELSE 6 END, stage
