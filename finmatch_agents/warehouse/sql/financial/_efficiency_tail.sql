-- title: (fragment) what financial/efficiency and run/efficiency compute after their first rows
overall AS (
    SELECT CAST(coalesce(sum(recommendations), 0) AS BIGINT) AS all_recommendations,
           sum(revenue) / nullif(sum(recommendations), 0) AS overall_per_recommendation
    FROM every_group
),
groups AS (
    SELECT * FROM every_group WHERE recommendations >= {{min_group_size}}
)
SELECT g.{{group_alias}}, g.recommendations,
       g.recommendations / o.all_recommendations AS recommendation_share,
       g.acceptance_rate,
       round(g.revenue, 2) AS annual_revenue,
       g.revenue / nullif(sum(g.revenue) OVER (), 0) AS revenue_share,
       round(g.per_recommendation, 2) AS revenue_per_recommendation,
       s.unit_cost AS cost_per_recommendation,
       round(g.per_recommendation - s.unit_cost, 2) AS net_per_recommendation,
       round(o.overall_per_recommendation, 2) AS overall_revenue_per_recommendation,
       round(o.overall_per_recommendation - s.unit_cost, 2) AS overall_net_per_recommendation,
       g.per_recommendation / nullif(o.overall_per_recommendation, 0) AS index_vs_overall,
       max(g.per_recommendation) OVER () / nullif(min(g.per_recommendation) OVER (), 0) AS best_worst_ratio,
       coalesce(sum(g.recommendations) FILTER (WHERE g.per_recommendation < o.overall_per_recommendation) OVER (), 0)
         / o.all_recommendations AS below_average_recommendation_share,
       count(*) OVER () AS groups_compared,
       s.min_group_size
FROM groups AS g, overall AS o, settings AS s
ORDER BY g.per_recommendation DESC, g.{{group_alias}}
