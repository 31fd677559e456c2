-- title: Churn probability by {{group_label}} (per customer)
-- requires: {{group_column}}, customer_id, customer_churn_probability
-- units: avg_churn=percent, customers=count, high_churn_threshold=percent, label=text, share_high_risk=percent
WITH per_customer AS (
    SELECT {{group_column}} AS label, customer_id, avg(customer_churn_probability) AS churn
    FROM {{table}}
    WHERE {{group_column}} IS NOT NULL AND customer_churn_probability IS NOT NULL
    GROUP BY 1, 2
)
SELECT label, count(*) AS customers, avg(churn) AS avg_churn,
       avg(CASE WHEN churn >= {{high_churn_threshold}} THEN 1.0 ELSE 0.0 END) AS share_high_risk,
       {{high_churn_threshold}} AS high_churn_threshold
FROM per_customer
GROUP BY 1
ORDER BY avg_churn DESC, label
