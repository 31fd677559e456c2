-- title: (fragment) annual income and its percentile among customers
f_income AS (
    SELECT customer_id, income,
           CASE WHEN income IS NULL THEN NULL
                ELSE percent_rank() OVER (PARTITION BY income IS NULL ORDER BY income) END AS income_score
    FROM (SELECT customer_id, avg(annual_income) AS income FROM population GROUP BY customer_id) AS a
)
