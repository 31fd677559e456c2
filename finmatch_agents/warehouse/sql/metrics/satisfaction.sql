-- title: Average customer satisfaction (per customer)
-- requires: customer_id, customer_satisfaction_score
-- units: avg_satisfaction=score, customers_scored=count, share_dissatisfied=percent
WITH per_customer AS (
    SELECT customer_id, avg(customer_satisfaction_score) AS satisfaction
    FROM {{table}}
    GROUP BY customer_id
)
SELECT avg(satisfaction) AS avg_satisfaction,
       count(satisfaction) AS customers_scored,
       count(*) FILTER (WHERE satisfaction <= 4) / nullif(count(satisfaction), 0) AS share_dissatisfied
FROM per_customer
