-- title: Customer lifetime value by customer segment (from the run table finmatch_customers)
-- reads: finmatch_customers
-- run-check: run/customers_check
-- requires: customer_id, customer_segment, product_recommendation_status, product_sales_amount, product_id, customer_churn_probability, products.product_id, products.margin
-- units: annual_revenue=currency, arpu=currency, avg_churn=percent, avg_clv=currency, clv_share=percent, clv_share_index=times, customer_share=percent, customers=count, revenue_at_risk=currency, revenue_at_risk_share=percent, segment=text, share_of_total_at_risk=percent, total_clv=currency
WITH per_customer AS (
    SELECT customer_id, segment, annual_revenue, churn
    FROM finmatch_customers
    WHERE customer_id IS NOT NULL AND segment IS NOT NULL
),
{{> financial/_clv_segment_tail}}
