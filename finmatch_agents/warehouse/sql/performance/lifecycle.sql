-- title: Acceptance by customer lifecycle stage
-- requires: customer_lifecycle_stage, customer_id, product_recommendation_status
-- units: acceptance_rate=percent, acceptance_spread=percent, best_worst_ratio=times, customers=count, recommendations=count, stage=text
WITH stages AS (
    SELECT coalesce(customer_lifecycle_stage, 'Not recorded') AS stage, count(DISTINCT customer_id) AS customers,
           count(*) AS recommendations,
           avg(CASE WHEN product_recommendation_status = {{accepted}} THEN 1.0 ELSE 0.0 END) AS acceptance_rate
    FROM {{table}}
    GROUP BY 1
    HAVING count(*) >= {{min_group_size}}
)
SELECT stage, customers, recommendations, acceptance_rate,
       max(acceptance_rate) OVER () - min(acceptance_rate) OVER () AS acceptance_spread,
       max(acceptance_rate) OVER () / nullif(min(acceptance_rate) OVER (), 0) AS best_worst_ratio
FROM stages
ORDER BY CASE stage WHEN 'New' THEN 1 WHEN 'Growing' THEN 2 WHEN 'Mature' THEN 3 WHEN 'At Risk' THEN 4
                    WHEN 'Dormant' THEN 5 ELSE 6 END, stage
