-- title: (fragment) what financial/cross_sell and run/cross_sell compute after their per-customer rows
groups AS (
    SELECT least(p.accepted_products, 3) AS holding, count(*) AS customers, avg(p.churn) AS avg_churn,
           avg(CASE WHEN p.churn >= s.threshold THEN 1.0 ELSE 0.0 END) AS high_churn_share
    FROM per_customer AS p, settings AS s
    WHERE p.churn IS NOT NULL
    GROUP BY 1
)
SELECT CASE holding WHEN 3 THEN '3+' ELSE CAST(holding AS VARCHAR) END AS accepted_products,
       customers,
       customers / sum(customers) OVER () AS customer_share,
       avg_churn,
       high_churn_share,
       max(avg_churn) FILTER (WHERE holding = 0) OVER () AS churn_none,
       max(avg_churn) FILTER (WHERE holding = 3) OVER () AS churn_multi,
       max(avg_churn) FILTER (WHERE holding = 0) OVER () - max(avg_churn) FILTER (WHERE holding = 3) OVER ()
         AS churn_gap_none_vs_multi,
       max(avg_churn) FILTER (WHERE holding = 0) OVER ()
         / nullif(max(avg_churn) FILTER (WHERE holding = 3) OVER (), 0) AS churn_ratio_none_vs_multi,
       (SELECT threshold FROM settings) AS high_churn_threshold
FROM groups
ORDER BY holding
