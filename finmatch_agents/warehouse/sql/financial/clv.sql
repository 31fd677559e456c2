-- title: Customer lifetime value and retention value at risk
-- run-variant: run/clv
-- requires: customer_id, product_recommendation_status, product_sales_amount, product_id, customer_churn_probability, products.product_id, products.margin
-- units: annual_revenue=currency, arpu=currency, avg_churn=percent, avg_clv=currency, avg_clv_revenue_customers=currency, avg_lifetime_years=number, customers=count, high_churn_clv=currency, high_churn_clv_share=percent, high_churn_customer_share=percent, high_churn_customers=count, high_churn_revenue=currency, high_churn_revenue_at_risk=currency, high_churn_revenue_share=percent, high_churn_share_of_risk=percent, high_churn_threshold=percent, lifetime_cap_years=number, revenue_at_risk=currency, revenue_at_risk_share=percent, revenue_customers=count, revenue_weighted_lifetime_years=number, total_clv=currency
WITH settings AS (
    SELECT CAST({{lifetime_cap_years}} AS DOUBLE) AS cap, CAST({{high_churn_threshold}} AS DOUBLE) AS threshold
),
{{> financial/_customer_revenue}},
{{> financial/_clv_tail}}
