-- title: Dataset overview (records, customers, product types)
-- requires: customer_id, product_type
-- units: customers=count, product_types=count, recommendations_per_customer=number, records=count
SELECT count(*) AS records,
       count(DISTINCT customer_id) AS customers,
       count(DISTINCT product_type) AS product_types,
       count(*) / nullif(count(DISTINCT customer_id), 0) AS recommendations_per_customer
FROM {{table}}
