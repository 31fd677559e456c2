-- title: (fragment) usage trend per customer and product type: Decreasing -1, Stable 0, Increasing +1, mean over the offers of that type
f_usage_trend AS (
    SELECT customer_id, product_type,
           avg(CASE customer_product_usage_trend WHEN 'Increasing' THEN 1.0 WHEN 'Stable' THEN 0.0
                                                 WHEN 'Decreasing' THEN -1.0 END) AS usage_trend
    FROM records
    WHERE product_type IS NOT NULL
    GROUP BY customer_id, product_type
)
