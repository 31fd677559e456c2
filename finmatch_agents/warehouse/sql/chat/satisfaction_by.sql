-- title: Customer satisfaction by {{group_label}} (per customer)
-- requires: {{group_column}}, customer_id, customer_satisfaction_score
-- units: avg_satisfaction=score, customers=count, label=text, share_dissatisfied=percent
WITH per_customer AS (
    SELECT {{group_column}} AS label, customer_id, avg(customer_satisfaction_score) AS satisfaction
    FROM {{table}}
    WHERE {{group_column}} IS NOT NULL AND customer_satisfaction_score IS NOT NULL
    GROUP BY 1, 2
)
SELECT label, count(*) AS customers, avg(satisfaction) AS avg_satisfaction,
       avg(CASE WHEN satisfaction <= 4 THEN 1.0 ELSE 0.0 END) AS share_dissatisfied
FROM per_customer
GROUP BY 1
ORDER BY avg_satisfaction DESC, label
