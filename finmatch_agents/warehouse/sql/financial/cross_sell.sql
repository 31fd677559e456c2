-- title: Churn by number of accepted products per customer (cross-selling and retention)
-- run-variant: run/cross_sell
-- requires: customer_id, product_recommendation_status, customer_churn_probability
-- units: accepted_products=text, avg_churn=percent, churn_gap_none_vs_multi=pp, churn_multi=percent, churn_none=percent, churn_ratio_none_vs_multi=times, customer_share=percent, customers=count, high_churn_share=percent, high_churn_threshold=percent
WITH settings AS (
    SELECT CAST({{high_churn_threshold}} AS DOUBLE) AS threshold
),
per_customer AS (
    SELECT customer_id,
           count(*) FILTER (WHERE product_recommendation_status = {{accepted}}) AS accepted_products,
           avg(customer_churn_probability) AS churn
    FROM {{table}}
    WHERE customer_id IS NOT NULL
    GROUP BY customer_id
),
groups AS (
    SELECT least(p.accepted_products, 3) AS holding, count(*) AS customers, avg(p.churn) AS avg_churn,
           avg(CASE WHEN p.churn >= s.threshold THEN 1.0 ELSE 0.0 END) AS high_churn_share
    FROM per_customer AS p, settings AS s
    WHERE p.churn IS NOT NULL
    GROUP BY 1
)
SELECT CASE holding WHEN 3 THEN '3+' ELSE CAST(holding AS VARCHAR) END AS accepted_products,
       customers,
       customers / sum(customers) OVER () AS customer_share,
       avg_churn,
       high_churn_share,
       max(avg_churn) FILTER (WHERE holding = 0) OVER () AS churn_none,
       max(avg_churn) FILTER (WHERE holding = 3) OVER () AS churn_multi,
       max(avg_churn) FILTER (WHERE holding = 0) OVER () - max(avg_churn) FILTER (WHERE holding = 3) OVER ()
         AS churn_gap_none_vs_multi,
       max(avg_churn) FILTER (WHERE holding = 0) OVER ()
         / nullif(max(avg_churn) FILTER (WHERE holding = 3) OVER (), 0) AS churn_ratio_none_vs_multi,
       (SELECT threshold FROM settings) AS high_churn_threshold
FROM groups
ORDER BY holding
