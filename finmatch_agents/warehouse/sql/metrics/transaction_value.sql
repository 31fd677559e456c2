-- title: Transaction value, last six months (per customer)
-- requires: customer_id, customer_transaction_value
-- units: avg_transaction_value=currency, total_transaction_value=currency
WITH per_customer AS (
    SELECT customer_id, avg(customer_transaction_value) AS tx_value
    FROM {{table}}
    GROUP BY customer_id
)
SELECT sum(tx_value) AS total_transaction_value,
       avg(tx_value) AS avg_transaction_value
FROM per_customer
