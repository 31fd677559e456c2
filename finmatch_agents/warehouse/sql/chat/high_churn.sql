-- title: Customers at high churn risk by segment
-- requires: customer_id, customer_segment, customer_churn_probability
-- units: customers=count, high_churn_threshold=percent, high_risk_customers=count, label=text, share_high_risk=percent, total_high_risk=count
WITH per_customer AS (
    SELECT customer_segment AS label, customer_id, avg(customer_churn_probability) AS churn
    FROM {{table}}
    WHERE customer_segment IS NOT NULL AND customer_churn_probability IS NOT NULL
    GROUP BY 1, 2
)
SELECT label, count(*) FILTER (WHERE churn >= {{high_churn_threshold}}) AS high_risk_customers,
       count(*) AS customers,
       count(*) FILTER (WHERE churn >= {{high_churn_threshold}}) / count(*) AS share_high_risk,
       sum(count(*) FILTER (WHERE churn >= {{high_churn_threshold}})) OVER () AS total_high_risk,
       {{high_churn_threshold}} AS high_churn_threshold
FROM per_customer
GROUP BY 1
ORDER BY high_risk_customers DESC, label
