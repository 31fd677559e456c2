-- title: Acceptance by customer product affinity
-- run-variant: run/affinity
-- requires: customer_product_affinity, product_recommendation_status
-- units: acceptance_rate=percent, affinity=text, high_low_ratio=times, recommendations=count, share=percent
WITH levels AS (
    SELECT coalesce(customer_product_affinity, 'Not recorded') AS affinity, count(*) AS recommendations,
           avg(CASE WHEN product_recommendation_status = {{accepted}} THEN 1.0 ELSE 0.0 END) AS acceptance_rate
    FROM {{table}}
    GROUP BY 1
)
SELECT affinity, recommendations,
       recommendations / sum(recommendations) OVER () AS share,
       acceptance_rate,
       max(acceptance_rate) FILTER (WHERE affinity = 'High') OVER ()
         / nullif(max(acceptance_rate) FILTER (WHERE affinity = 'Low') OVER (), 0) AS high_low_ratio
FROM levels
ORDER BY CASE affinity WHEN 'High' THEN 1 WHEN 'Medium' THEN 2 WHEN 'Low' THEN 3 ELSE 4 END, affinity
