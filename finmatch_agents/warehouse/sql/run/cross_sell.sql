-- title: Churn by number of accepted products per customer (cross-selling and retention) (from the run table finmatch_customers)
-- reads: finmatch_customers
-- run-check: run/customers_check
-- requires: customer_id, product_recommendation_status, customer_churn_probability
-- units: accepted_products=text, avg_churn=percent, churn_gap_none_vs_multi=pp, churn_multi=percent, churn_none=percent, churn_ratio_none_vs_multi=times, customer_share=percent, customers=count, high_churn_share=percent, high_churn_threshold=percent
WITH settings AS (
    SELECT CAST({{high_churn_threshold}} AS DOUBLE) AS threshold
),
per_customer AS (
    SELECT customer_id, accepted_records AS accepted_products, churn
    FROM finmatch_customers
    WHERE customer_id IS NOT NULL
),
{{> financial/_cross_sell_tail}}
