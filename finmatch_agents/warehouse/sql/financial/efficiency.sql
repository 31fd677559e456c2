-- title: Revenue per recommendation by {{group_label}}
-- run-variant: run/efficiency
-- requires: {{group_column}}, product_recommendation_status, product_sales_amount, product_id, products.product_id, products.margin
-- units: acceptance_rate=percent, annual_revenue=currency, below_average_recommendation_share=percent, best_worst_ratio=times, cost_per_recommendation=currency, groups_compared=count, index_vs_overall=times, min_group_size=count, net_per_recommendation=currency, overall_net_per_recommendation=currency, overall_revenue_per_recommendation=currency, product_type=text, recommendation_share=percent, recommendations=count, revenue_per_recommendation=currency, revenue_share=percent, segment=text
WITH settings AS (
    SELECT CAST({{cost_per_recommendation}} AS DOUBLE) AS unit_cost, {{min_group_size}} AS min_group_size
),
{{> financial/_catalogue}},
base AS (
    SELECT r.{{group_column}} AS {{group_alias}},
           CASE WHEN r.product_recommendation_status = {{accepted}} THEN 1.0 ELSE 0.0 END AS accepted,
           CASE WHEN r.product_recommendation_status = {{accepted}}
                THEN coalesce(r.product_sales_amount * c.margin, 0) ELSE 0 END AS revenue
    FROM {{table}} AS r
    LEFT JOIN catalogue AS c ON c.product_id = r.product_id
    WHERE r.{{group_column}} IS NOT NULL
),
every_group AS (
    -- base is read once (a CTE read twice is materialised): the overall figures are sums over the groups
    SELECT {{group_alias}}, count(*) AS recommendations, avg(accepted) AS acceptance_rate, sum(revenue) AS revenue,
           sum(revenue) / count(*) AS per_recommendation
    FROM base
    GROUP BY {{group_alias}}
),
{{> financial/_efficiency_tail}}
