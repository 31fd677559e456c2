-- title: Acceptance by product (products with enough recommendations)
-- requires: product_name, product_type, product_recommendation_status
-- units: acceptance_rate=percent, product_name=text, product_type=text, products_compared=count, recommendations=count, vs_product_average=pp
WITH products_seen AS (
    SELECT coalesce(product_name, 'Not recorded') AS product_name, coalesce(product_type, 'Not recorded') AS product_type,
           count(*) AS recommendations,
           avg(CASE WHEN product_recommendation_status = {{accepted}} THEN 1.0 ELSE 0.0 END) AS acceptance_rate
    FROM {{table}}
    GROUP BY 1, 2
    HAVING count(*) >= {{min_group_size}}
)
SELECT product_name, product_type, recommendations, acceptance_rate,
       acceptance_rate - avg(acceptance_rate) OVER () AS vs_product_average,
       count(*) OVER () AS products_compared
FROM products_seen
ORDER BY acceptance_rate DESC, product_name
