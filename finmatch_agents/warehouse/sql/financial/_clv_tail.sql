-- title: (fragment) what financial/clv and run/clv compute after their per-customer rows
valued AS (
    SELECT p.customer_id, p.annual_revenue, p.churn,
           CASE WHEN p.churn <= 0 THEN s.cap ELSE least(1.0 / p.churn, s.cap) END AS lifetime,
           p.churn >= s.threshold AS high_churn
    FROM per_customer AS p, settings AS s
    WHERE p.churn IS NOT NULL
),
scored AS (
    SELECT *, annual_revenue * lifetime AS clv FROM valued
)
SELECT count(*) AS customers,
       count(*) FILTER (WHERE annual_revenue > 0) AS revenue_customers,
       round(sum(annual_revenue), 2) AS annual_revenue,
       round(avg(annual_revenue), 2) AS arpu,
       round(sum(clv), 2) AS total_clv,
       round(avg(clv), 2) AS avg_clv,
       round(avg(clv) FILTER (WHERE annual_revenue > 0), 2) AS avg_clv_revenue_customers,
       avg(lifetime) AS avg_lifetime_years,
       sum(clv) / nullif(sum(annual_revenue), 0) AS revenue_weighted_lifetime_years,
       avg(churn) AS avg_churn,
       round(sum(annual_revenue * churn), 2) AS revenue_at_risk,
       sum(annual_revenue * churn) / nullif(sum(annual_revenue), 0) AS revenue_at_risk_share,
       count(*) FILTER (WHERE high_churn) AS high_churn_customers,
       count(*) FILTER (WHERE high_churn) / nullif(count(*), 0) AS high_churn_customer_share,
       round(coalesce(sum(annual_revenue) FILTER (WHERE high_churn), 0), 2) AS high_churn_revenue,
       coalesce(sum(annual_revenue) FILTER (WHERE high_churn), 0) / nullif(sum(annual_revenue), 0)
         AS high_churn_revenue_share,
       round(coalesce(sum(clv) FILTER (WHERE high_churn), 0), 2) AS high_churn_clv,
       coalesce(sum(clv) FILTER (WHERE high_churn), 0) / nullif(sum(clv), 0) AS high_churn_clv_share,
       round(coalesce(sum(annual_revenue * churn) FILTER (WHERE high_churn), 0), 2) AS high_churn_revenue_at_risk,
       coalesce(sum(annual_revenue * churn) FILTER (WHERE high_churn), 0) / nullif(sum(annual_revenue * churn), 0)
         AS high_churn_share_of_risk,
       any_value(s.cap) AS lifetime_cap_years,
       any_value(s.threshold) AS high_churn_threshold
FROM scored, settings AS s
