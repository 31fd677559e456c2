-- title: Recommender customers: every customer with a dated offer and their index
-- requires: customer_id, product_id, product_recommendation_date
-- units: cix=count, customer_id=text
WITH {{> recommend/_customers}}
SELECT cix, customer_id FROM customers
WHERE cix % {{parts}} = {{part}}
ORDER BY cix
