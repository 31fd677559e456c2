-- title: (fragment) account balance and its percentile among customers
f_balance AS (
    SELECT customer_id, balance,
           CASE WHEN balance IS NULL THEN NULL
                ELSE percent_rank() OVER (PARTITION BY balance IS NULL ORDER BY balance) END AS balance_score
    FROM (SELECT customer_id, avg(account_balance) AS balance FROM population GROUP BY customer_id) AS a
)
