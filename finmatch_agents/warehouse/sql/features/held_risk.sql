-- title: Customer feature input: risk the customer already accepted (mean catalogue risk of the products held)
-- requires: customer_id, product_recommendation_status, product_id, {{column}}, products.product_id, products.risk_to_customer
WITH {{> features/_records}},
{{> features/_held_risk}}
SELECT s.cix, f.held_risk_score
FROM scope AS s JOIN f_held_risk AS f USING (customer_id)
ORDER BY s.cix
