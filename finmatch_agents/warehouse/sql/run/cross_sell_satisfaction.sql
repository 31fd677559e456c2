-- title: Satisfaction by number of accepted products per customer (from the run table finmatch_customers)
-- reads: finmatch_customers
-- run-check: run/customers_check
-- requires: customer_id, product_recommendation_status, customer_satisfaction_score
-- units: accepted_products=text, avg_satisfaction=number, customers=count, satisfaction_gap_multi_vs_none=score, satisfaction_multi=score, satisfaction_none=score
WITH per_customer AS (
    SELECT customer_id, accepted_records AS accepted_products, satisfaction
    FROM finmatch_customers
    WHERE customer_id IS NOT NULL
),
{{> financial/_cross_sell_satisfaction_tail}}
