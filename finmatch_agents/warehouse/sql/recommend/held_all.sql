-- title: Products every customer holds now (accepted offers), for an export of recommendations
-- requires: customer_id, product_id, product_recommendation_status, product_recommendation_date
-- units: cix=count, product_id=text
WITH {{> recommend/_customers}}
SELECT DISTINCT c.cix, r.product_id
FROM {{table}} AS r
JOIN customers AS c USING (customer_id)
WHERE r.product_recommendation_status = {{accepted}} AND r.product_id IS NOT NULL AND c.cix % {{parts}} = {{part}}
ORDER BY c.cix, r.product_id
