-- title: Products one customer holds now (accepted offers)
-- requires: customer_id, product_id, product_recommendation_status
-- units: product_id=text
SELECT DISTINCT product_id FROM {{table}}
WHERE customer_id = {{customer}} AND product_recommendation_status = {{accepted}} AND product_id IS NOT NULL
ORDER BY product_id
