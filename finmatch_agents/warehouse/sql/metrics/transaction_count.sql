-- title: Transaction count, last six months (per customer)
-- requires: customer_id, customer_transaction_count
-- units: avg_transaction_count=number, total_transaction_count=count
WITH per_customer AS (
    SELECT customer_id, avg(customer_transaction_count) AS tx_count
    FROM {{table}}
    GROUP BY customer_id
)
SELECT sum(tx_count) AS total_transaction_count,
       avg(tx_count) AS avg_transaction_count
FROM per_customer
