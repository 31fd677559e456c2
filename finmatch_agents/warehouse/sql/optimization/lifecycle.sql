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
{{> optimization/_lifecycle_tail}}
