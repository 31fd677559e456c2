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
groups AS (
    SELECT least(accepted_products, 3) AS holding, count(*) AS customers, avg(satisfaction) AS avg_satisfaction
    FROM per_customer
    WHERE satisfaction IS NOT NULL
    GROUP BY 1
)
SELECT CASE holding WHEN 3 THEN '3+' ELSE CAST(holding AS VARCHAR) END AS accepted_products,
       customers,
       avg_satisfaction,
       max(avg_satisfaction) FILTER (WHERE holding = 0) OVER () AS satisfaction_none,
       max(avg_satisfaction) FILTER (WHERE holding = 3) OVER () AS satisfaction_multi,
       max(avg_satisfaction) FILTER (WHERE holding = 3) OVER ()
         - max(avg_satisfaction) FILTER (WHERE holding = 0) OVER () AS satisfaction_gap_multi_vs_none
FROM groups
ORDER BY holding
