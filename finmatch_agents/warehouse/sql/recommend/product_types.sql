-- title: Products offered in the records and their type (the catalogue when there is no products table)
-- requires: product_id, product_type
-- units: product_id=text, product_type=text, offers=count
SELECT product_id, arg_max(product_type, n) AS product_type, sum(n) AS offers
FROM (SELECT product_id, product_type, count(*) AS n FROM {{table}}
      WHERE product_id IS NOT NULL GROUP BY ALL) AS t
GROUP BY product_id
ORDER BY product_id
