-- title: Average churn probability (per customer)
-- requires: customer_id, customer_churn_probability
-- units: avg_churn_probability=percent, customers_scored=count, share_high_churn_risk=percent
WITH per_customer AS (
    SELECT customer_id, avg(customer_churn_probability) AS churn
    FROM {{table}}
    GROUP BY customer_id
)
SELECT avg(churn) AS avg_churn_probability,
       count(churn) AS customers_scored,
       count(*) FILTER (WHERE churn >= 0.5) / nullif(count(churn), 0) AS share_high_churn_risk
FROM per_customer
