-- title: Churn probability by product-usage trend (per customer)
-- run-variant: run/usage_churn
-- requires: customer_id, customer_product_usage_trend, customer_churn_probability
-- units: avg_churn=percent, sd_churn=percent, customers=count, decreasing_increasing_ratio=times, high_churn_threshold=percent, share_high_risk=percent, stable_churn=percent, trend=text
WITH per_customer AS (
    SELECT customer_id, coalesce(customer_product_usage_trend, 'Not recorded') AS trend,
           avg(customer_churn_probability) AS churn
    FROM {{table}}
    WHERE customer_churn_probability IS NOT NULL
    GROUP BY 1, 2
),
{{> performance/_usage_churn_tail}}
