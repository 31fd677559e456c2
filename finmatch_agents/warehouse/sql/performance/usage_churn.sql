-- title: Churn probability by product-usage trend (per customer)
-- run-variant: run/usage_churn
-- requires: customer_id, customer_product_usage_trend, customer_churn_probability
-- units: avg_churn=percent, sd_churn=percent, customers=count, decreasing_increasing_ratio=times, high_churn_threshold=percent, share_high_risk=percent, stable_churn=percent, trend=text
WITH per_customer AS (
    SELECT customer_id, coalesce(customer_product_usage_trend, 'Not recorded') AS trend,
           avg(customer_churn_probability) AS churn
    FROM {{table}}
    WHERE customer_churn_probability IS NOT NULL
    GROUP BY 1, 2
),
trends AS (
    SELECT trend, count(*) AS customers, avg(churn) AS avg_churn, stddev_samp(churn) AS sd_churn,
           avg(CASE WHEN churn >= {{high_churn_threshold}} THEN 1.0 ELSE 0.0 END) AS share_high_risk
    FROM per_customer
    GROUP BY trend
)
SELECT trend, customers, avg_churn, sd_churn, share_high_risk,
       max(avg_churn) FILTER (WHERE trend = 'Decreasing') OVER ()
         / nullif(max(avg_churn) FILTER (WHERE trend = 'Increasing') OVER (), 0) AS decreasing_increasing_ratio,
       max(avg_churn) FILTER (WHERE trend = 'Stable') OVER () AS stable_churn,
       {{high_churn_threshold}} AS high_churn_threshold
FROM trends
ORDER BY CASE trend WHEN 'Increasing' THEN 1 WHEN 'Stable' THEN 2 WHEN 'Decreasing' THEN 3 ELSE 4 END, trend
