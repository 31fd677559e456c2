-- title: (fragment) what financial/clv_segment and run/clv_segment compute after their per-customer rows
valued AS (
    SELECT segment, annual_revenue, churn,
           annual_revenue * CASE WHEN churn <= 0 THEN CAST({{lifetime_cap_years}} AS DOUBLE)
                                 ELSE least(1.0 / churn, CAST({{lifetime_cap_years}} AS DOUBLE)) END AS clv
    FROM per_customer
    WHERE churn IS NOT NULL
),
segments AS (
    SELECT segment, count(*) AS customers, sum(annual_revenue) AS revenue, avg(churn) AS avg_churn,
           sum(clv) AS clv, sum(annual_revenue * churn) AS at_risk
    FROM valued
    GROUP BY segment
)
SELECT segment, customers,
       customers / sum(customers) OVER () AS customer_share,
       round(revenue, 2) AS annual_revenue,
       round(revenue / customers, 2) AS arpu,
       avg_churn,
       round(clv, 2) AS total_clv,
       round(clv / customers, 2) AS avg_clv,
       clv / nullif(sum(clv) OVER (), 0) AS clv_share,
       clv / nullif(sum(clv) OVER (), 0) / (customers / sum(customers) OVER ()) AS clv_share_index,
       round(at_risk, 2) AS revenue_at_risk,
       at_risk / nullif(revenue, 0) AS revenue_at_risk_share,
       at_risk / nullif(sum(at_risk) OVER (), 0) AS share_of_total_at_risk
FROM segments
ORDER BY clv DESC NULLS LAST, segment
