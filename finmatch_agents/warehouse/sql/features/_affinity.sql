-- title: (fragment) affinity per customer and product type: Low -1, Medium 0, High +1, mean over the offers of that type
f_affinity AS (
    SELECT customer_id, product_type,
           avg(CASE customer_product_affinity WHEN 'High' THEN 1.0 WHEN 'Medium' THEN 0.0 WHEN 'Low' THEN -1.0 END)
             AS affinity
    FROM records
    WHERE product_type IS NOT NULL
    GROUP BY customer_id, product_type
)
