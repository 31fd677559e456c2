-- title: (fragment) the asked customers' percentiles, counted against the reference (needs customers, reference)
ranked AS (
    -- percent_rank without sorting the book: (customers below the value) / (customers with a value - 1),
    -- ties share the lowest rank, a single customer ranks 0 — the same numbers as percent_rank() OVER (...)
    SELECT a.customer_id, a.annual_revenue, a.income, a.balance, a.transactions,
           count(*) FILTER (WHERE p.annual_revenue < a.annual_revenue) / greatest(count(*) - 1, 1) AS profit,
           count(*) FILTER (WHERE p.income < a.income) / greatest(count(p.income) - 1, 1) AS income_rank,
           count(*) FILTER (WHERE p.balance < a.balance) / greatest(count(p.balance) - 1, 1) AS balance_rank,
           count(*) FILTER (WHERE p.transactions < a.transactions) / greatest(count(p.transactions) - 1, 1)
             AS activity_rank
    FROM (SELECT x.* FROM reference AS x JOIN customers USING (customer_id)) AS a
    CROSS JOIN reference AS p
    GROUP BY a.customer_id, a.annual_revenue, a.income, a.balance, a.transactions
),
f_profit AS (SELECT customer_id, annual_revenue, profit FROM ranked),
f_income AS (
    SELECT customer_id, income, CASE WHEN income IS NULL THEN NULL ELSE income_rank END AS income_score FROM ranked
),
f_balance AS (
    SELECT customer_id, balance, CASE WHEN balance IS NULL THEN NULL ELSE balance_rank END AS balance_score
    FROM ranked
),
f_transactions AS (
    SELECT customer_id, transactions,
           CASE WHEN transactions IS NULL THEN NULL ELSE activity_rank END AS activity_score
    FROM ranked
)
