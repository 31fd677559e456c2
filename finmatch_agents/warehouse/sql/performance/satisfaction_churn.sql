-- title: Churn probability by satisfaction band (per customer)
-- requires: customer_id, customer_satisfaction_score, customer_churn_probability
-- units: avg_churn=percent, sd_churn=percent, band=text, customers=count, low_high_ratio=times, share=percent
WITH per_customer AS (
    SELECT customer_id, customer_satisfaction_score AS satisfaction, avg(customer_churn_probability) AS churn
    FROM {{table}}
    WHERE customer_churn_probability IS NOT NULL
    GROUP BY customer_id, customer_satisfaction_score
),
bands AS (
    SELECT CASE WHEN satisfaction IS NULL THEN 'Not recorded' WHEN satisfaction <= 4 THEN 'Low (1-4)'
                WHEN satisfaction <= 7 THEN 'Medium (5-7)' ELSE 'High (8-10)' END AS band,
           count(*) AS customers, avg(churn) AS avg_churn, stddev_samp(churn) AS sd_churn
    FROM per_customer
    GROUP BY 1
)
SELECT band, customers, customers / sum(customers) OVER () AS share, avg_churn, sd_churn,
       max(avg_churn) FILTER (WHERE band = 'Low (1-4)') OVER ()
         / nullif(max(avg_churn) FILTER (WHERE band = 'High (8-10)') OVER (), 0) AS low_high_ratio
FROM bands
ORDER BY CASE band WHEN 'Low (1-4)' THEN 1 WHEN 'Medium (5-7)' THEN 2 WHEN 'High (8-10)' THEN 3 ELSE 4 END
