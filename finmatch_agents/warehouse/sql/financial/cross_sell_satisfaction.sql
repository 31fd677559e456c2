-- title: Satisfaction by number of accepted products per customer
-- run-variant: run/cross_sell_satisfaction
-- requires: customer_id, product_recommendation_status, customer_satisfaction_score
-- units: accepted_products=text, avg_satisfaction=number, customers=count, satisfaction_gap_multi_vs_none=score, satisfaction_multi=score, satisfaction_none=score
WITH per_customer AS (
    SELECT customer_id,
           count(*) FILTER (WHERE product_recommendation_status = {{accepted}}) AS accepted_products,
           avg(customer_satisfaction_score) AS satisfaction
    FROM {{table}}
    WHERE customer_id IS NOT NULL
    GROUP BY customer_id
),
{{> financial/_cross_sell_satisfaction_tail}}
