-- title: (fragment) age and its investment-horizon score
f_age AS (
    SELECT customer_id, age,
           least(greatest((CAST({{age_zero}} AS DOUBLE) - age) / ({{age_zero}} - {{age_full}}), 0), 1) AS age_score
    FROM (SELECT customer_id, avg(customer_age) AS age FROM records GROUP BY customer_id) AS a
)
