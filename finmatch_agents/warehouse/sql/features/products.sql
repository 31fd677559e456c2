-- title: Product catalogue with its matching attributes
-- requires: products.product_id
SELECT * FROM {{products}} ORDER BY product_id
