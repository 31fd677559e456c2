-- title: Revenue per recommendation by {{group_label}} (from the run table finmatch_offers)
-- reads: finmatch_offers
-- requires: {{group_column}}, product_recommendation_status, product_sales_amount, product_id, products.product_id, products.margin
-- units: acceptance_rate=percent, annual_revenue=currency, below_average_recommendation_share=percent, best_worst_ratio=times, cost_per_recommendation=currency, groups_compared=count, index_vs_overall=times, min_group_size=count, net_per_recommendation=currency, overall_net_per_recommendation=currency, overall_revenue_per_recommendation=currency, product_type=text, recommendation_share=percent, recommendations=count, revenue_per_recommendation=currency, revenue_share=percent, segment=text
WITH settings AS (
    SELECT CAST({{cost_per_recommendation}} AS DOUBLE) AS unit_cost, {{min_group_size}} AS min_group_size
),
base AS (
    -- {{group_column}} is one of the run table's own columns (customer_segment or product_type here)
    SELECT o.{{group_column}} AS {{group_alias}}, o.records,
           CASE WHEN o.product_recommendation_status = {{accepted}} THEN o.records ELSE 0 END AS accepted,
           o.revenue
    FROM finmatch_offers AS o
    WHERE o.{{group_column}} IS NOT NULL
),
every_group AS (
    -- base is read once (a CTE read twice is materialised): the overall figures are sums over the groups
    SELECT {{group_alias}}, CAST(sum(records) AS BIGINT) AS recommendations,
           sum(accepted) / sum(records) AS acceptance_rate, sum(revenue) AS revenue,
           sum(revenue) / sum(records) AS per_recommendation
    FROM base
    GROUP BY {{group_alias}}
),
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
