-- title: Churn probability by product-usage trend (per customer) (from the run table finmatch_customers)
-- reads: finmatch_customers
-- run-check: run/customers_check
-- requires: customer_id, customer_product_usage_trend, customer_churn_probability
-- units: avg_churn=percent, sd_churn=percent, customers=count, decreasing_increasing_ratio=times, high_churn_threshold=percent, share_high_risk=percent, stable_churn=percent, trend=text
WITH per_customer AS (
    SELECT customer_id, coalesce(trend, 'Not recorded') AS trend, churn
    FROM finmatch_customers
    WHERE churn IS NOT NULL
),
{{> performance/_usage_churn_tail}}
