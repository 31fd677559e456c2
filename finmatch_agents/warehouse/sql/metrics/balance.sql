-- title: Account balances (per customer)
-- requires: customer_id, account_balance
-- units: avg_account_balance=currency, median_account_balance=currency, total_account_balance=currency
WITH per_customer AS (
    SELECT customer_id, avg(account_balance) AS balance
    FROM {{table}}
    GROUP BY customer_id
)
SELECT sum(balance) AS total_account_balance,
       avg(balance) AS avg_account_balance,
       median(balance) AS median_account_balance
FROM per_customer
