-- title: (fragment) the percentile inputs of every customer of the window, in one pass over the records
{{> financial/_catalogue}},
reference AS MATERIALIZED (
    -- what a few customers' percentiles rank against: one row per customer of the population, the same
    -- expressions as the profit, income, balance and transactions fragments
    SELECT r.customer_id, {{> financial/_accepted_revenue}} AS annual_revenue,
           avg(r.annual_income) AS income, avg(r.account_balance) AS balance,
           avg(r.customer_transaction_count) AS transactions
    FROM population AS r
    LEFT JOIN catalogue AS c ON c.product_id = r.product_id
    GROUP BY r.customer_id
)
