-- title: (fragment) transactions in six months and their percentile among customers
f_transactions AS (
    SELECT customer_id, transactions,
           CASE WHEN transactions IS NULL THEN NULL
                ELSE percent_rank() OVER (PARTITION BY transactions IS NULL ORDER BY transactions) END AS activity_score
    FROM (SELECT customer_id, avg(customer_transaction_count) AS transactions FROM population GROUP BY customer_id) AS a
)
