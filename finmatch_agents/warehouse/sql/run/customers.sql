-- title: Run table finmatch_customers: one row per customer, segment and usage trend (built once per run; the per-customer queries read it instead of every record)
-- requires: customer_id, customer_segment, customer_product_usage_trend, product_recommendation_status, customer_churn_probability, customer_satisfaction_score, product_sales_amount, product_id, products.product_id, products.margin
-- units: customer_id=text, segment=text, trend=text, records=count, accepted_records=count, churn=percent, satisfaction=number, annual_revenue=currency
WITH {{> financial/_catalogue}}
SELECT r.customer_id, r.customer_segment AS segment, r.customer_product_usage_trend AS trend,
       count(*) AS records,
       count(*) FILTER (WHERE r.product_recommendation_status = {{accepted}}) AS accepted_records,
       avg(r.customer_churn_probability) AS churn,
       avg(r.customer_satisfaction_score) AS satisfaction,
       {{> financial/_accepted_revenue}} AS annual_revenue
FROM {{table}} AS r
LEFT JOIN catalogue AS c ON c.product_id = r.product_id
-- a customer whose segment or usage trend varies across records gets several rows: run/customers_check then
-- keeps the per-customer queries on the records
GROUP BY r.customer_id, r.customer_segment, r.customer_product_usage_trend
