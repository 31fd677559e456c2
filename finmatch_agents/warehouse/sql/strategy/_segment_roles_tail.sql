-- title: (fragment) what strategy/segment_roles and run/segment_roles compute after their per-customer rows
seg_churn AS (
    SELECT segment, count(*) AS customers, avg(churn) AS avg_churn, stddev_samp(churn) AS sd_churn,
           avg(CASE WHEN churn >= {{high_churn_threshold}} THEN 1.0 ELSE 0.0 END) AS share_high_risk
    FROM per_customer
    GROUP BY segment
),
roles AS (
    SELECT s.segment, c.customers, c.customers / o.all_customers AS customer_share, s.recommendations,
           s.acceptance_rate, c.avg_churn, c.sd_churn, c.share_high_risk, o.overall_acceptance, o.overall_churn,
           o.overall_sd_churn, o.all_recommendations, o.all_customers,
           s.acceptance_rate - o.overall_acceptance AS acceptance_vs_overall,
           c.avg_churn - o.overall_churn AS churn_vs_overall,
           c.avg_churn / nullif(o.overall_churn, 0) AS churn_index,
           CASE WHEN c.avg_churn > o.overall_churn THEN 'Defend'
                WHEN s.acceptance_rate >= o.overall_acceptance THEN 'Grow'
                ELSE 'Nurture' END AS role
    FROM segments s JOIN seg_churn c USING (segment), overall o
)
SELECT segment, role, customers, customer_share, recommendations, acceptance_rate, avg_churn, sd_churn,
       share_high_risk, overall_acceptance, overall_churn, overall_sd_churn, all_recommendations, all_customers,
       acceptance_vs_overall, churn_vs_overall, churn_index,
       max(acceptance_rate) OVER () - min(acceptance_rate) OVER () AS acceptance_spread,
       max(avg_churn) OVER () - min(avg_churn) OVER () AS churn_spread,
       {{high_churn_threshold}} AS high_churn_threshold
FROM roles
ORDER BY CASE role WHEN 'Grow' THEN 1 WHEN 'Defend' THEN 2 ELSE 3 END, acceptance_rate DESC, segment
