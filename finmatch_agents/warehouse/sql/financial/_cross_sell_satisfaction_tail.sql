-- title: (fragment) what financial/cross_sell_satisfaction and run/cross_sell_satisfaction compute after their per-customer rows
groups AS (
    SELECT least(accepted_products, 3) AS holding, count(*) AS customers, avg(satisfaction) AS avg_satisfaction
    FROM per_customer
    WHERE satisfaction IS NOT NULL
    GROUP BY 1
)
SELECT CASE holding WHEN 3 THEN '3+' ELSE CAST(holding AS VARCHAR) END AS accepted_products,
       customers,
       avg_satisfaction,
       max(avg_satisfaction) FILTER (WHERE holding = 0) OVER () AS satisfaction_none,
       max(avg_satisfaction) FILTER (WHERE holding = 3) OVER () AS satisfaction_multi,
       max(avg_satisfaction) FILTER (WHERE holding = 3) OVER ()
         - max(avg_satisfaction) FILTER (WHERE holding = 0) OVER () AS satisfaction_gap_multi_vs_none
FROM groups
ORDER BY holding
