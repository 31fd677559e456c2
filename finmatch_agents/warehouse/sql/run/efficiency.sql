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
{{> financial/_efficiency_tail}}
