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
{{> performance/_affinity_tail}}
