-- title: Acceptance by product-usage trend
-- requires: customer_product_usage_trend, product_recommendation_status
-- units: acceptance_rate=percent, acceptance_spread=percent, increasing_decreasing_gap=pp, increasing_decreasing_ratio=times, recommendations=count, share=percent, trend=text
WITH trends AS (
    SELECT coalesce(customer_product_usage_trend, 'Not recorded') AS trend, count(*) AS recommendations,
           avg(CASE WHEN product_recommendation_status = {{accepted}} THEN 1.0 ELSE 0.0 END) AS acceptance_rate
    FROM {{table}}
    GROUP BY 1
)
SELECT trend, recommendations,
       recommendations / sum(recommendations) OVER () AS share,
       acceptance_rate,
       max(acceptance_rate) FILTER (WHERE trend = 'Increasing') OVER ()
         - max(acceptance_rate) FILTER (WHERE trend = 'Decreasing') OVER () AS increasing_decreasing_gap,
       max(acceptance_rate) FILTER (WHERE trend = 'Increasing') OVER ()
         / nullif(max(acceptance_rate) FILTER (WHERE trend = 'Decreasing') OVER (), 0) AS increasing_decreasing_ratio,
       max(acceptance_rate) OVER () - min(acceptance_rate) OVER () AS acceptance_spread
FROM trends
ORDER BY CASE trend WHEN 'Increasing' THEN 1 WHEN 'Stable' THEN 2 WHEN 'Decreasing' THEN 3 ELSE 4 END, trend
