-- title: (fragment) what financial/scenarios and run/scenarios compute after their per-customer rows
book AS (
    SELECT count(*) AS customers, sum(annual_revenue) AS revenue, sum(annual_revenue * churn) AS at_risk
    FROM per_customer
    WHERE churn IS NOT NULL
),
scenarios AS (
    SELECT 1 AS position, 'Baseline' AS scenario, 0.0::DOUBLE AS sales_change, 0.0::DOUBLE AS churn_change
    UNION ALL SELECT 2, 'Sales uplift', uplift, 0.0 FROM settings
    UNION ALL SELECT 3, 'Churn reduction', 0.0, reduction FROM settings
    UNION ALL SELECT 4, 'Sales uplift and churn reduction', uplift, reduction FROM settings
),
projected AS (
    SELECT s.position, s.scenario, s.sales_change, s.churn_change, b.customers,
           b.revenue * (1 + s.sales_change) AS revenue,
           b.at_risk * (1 + s.sales_change) * (1 - s.churn_change) AS churn_loss,
           b.revenue * s.sales_change AS revenue_uplift,
           b.at_risk * (1 + s.sales_change) * s.churn_change AS revenue_retained,
           b.revenue * (1 + s.sales_change) - b.at_risk * (1 + s.sales_change) * (1 - s.churn_change) AS kept,
           b.revenue - b.at_risk AS baseline_kept
    FROM scenarios AS s, book AS b
)
SELECT scenario, sales_change, churn_change, customers,
       round(revenue, 2) AS annual_revenue,
       round(churn_loss, 2) AS expected_churn_loss,
       round(kept, 2) AS revenue_after_churn,
       round(revenue_uplift, 2) AS revenue_uplift,
       round(revenue_retained, 2) AS revenue_retained,
       round(kept - baseline_kept, 2) AS gain_vs_baseline,
       (kept - baseline_kept) / nullif(baseline_kept, 0) AS gain_share,
       round(revenue / nullif(customers, 0), 2) AS arpu,
       round(kept / nullif(customers, 0), 2) AS arpu_after_churn,
       round(revenue / nullif(customers, 0) - max(revenue) FILTER (WHERE position = 1) OVER ()
             / nullif(customers, 0), 2) AS arpu_change,
       max(kept - baseline_kept) FILTER (WHERE position = 2) OVER ()
         / nullif(max(kept - baseline_kept) FILTER (WHERE position = 3) OVER (), 0) AS sales_vs_churn_ratio,
       (SELECT uplift FROM settings) AS assumed_sales_uplift,
       (SELECT reduction FROM settings) AS assumed_churn_reduction
FROM projected
ORDER BY position
