-- title: Run table finmatch_customers: one row per customer, segment and usage trend (built once per run; the per-customer queries read it instead of every record)
-- requires: customer_id, customer_segment, customer_product_usage_trend, product_recommendation_status, customer_churn_probability, customer_satisfaction_score, product_sales_amount, product_id, products.product_id, products.margin
-- units: customer_id=text, segment=text, trend=text, records=count, accepted_records=count, churn_sum=number, churn_n=count, satisfaction_sum=number, satisfaction_n=count, annual_revenue=currency
WITH {{> financial/_catalogue}}
    -- Sums and counts (not averages), so a query can regroup rows exactly: a customer's mean churn is
    -- sum(churn_sum) / sum(churn_n) over its rows. annual_revenue is NULL when the customer accepted nothing with a
    -- catalogue margin (as sum(...) FILTER gives per customer).
SELECT r.customer_id, r.customer_segment AS segment, r.customer_product_usage_trend AS trend,
       count(*) AS records,
       count(*) FILTER (WHERE r.product_recommendation_status = {{accepted}}) AS accepted_records,
       sum(r.customer_churn_probability) AS churn_sum, count(r.customer_churn_probability) AS churn_n,
       sum(r.customer_satisfaction_score) AS satisfaction_sum, count(r.customer_satisfaction_score) AS satisfaction_n,
       sum(r.product_sales_amount * c.margin) FILTER (WHERE r.product_recommendation_status = {{accepted}})
         AS annual_revenue
FROM {{table}} AS r
LEFT JOIN catalogue AS c ON c.product_id = r.product_id
GROUP BY r.customer_id, r.customer_segment, r.customer_product_usage_trend
