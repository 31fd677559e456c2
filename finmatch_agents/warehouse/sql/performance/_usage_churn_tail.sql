-- title: (fragment) what performance/usage_churn and run/usage_churn compute after their per-customer rows
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
