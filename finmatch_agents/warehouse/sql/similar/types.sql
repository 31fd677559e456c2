-- title: Similarity index: the product types each customer was offered, and whether they took one up
-- requires: customer_id, product_type, product_recommendation_status, {{column}}
WITH {{> features/_records}}
SELECT s.cix, r.product_type, bool_or(r.product_recommendation_status = {{accepted}}) AS taken
FROM scope AS s JOIN records AS r USING (customer_id)
WHERE r.product_type IS NOT NULL
GROUP BY s.cix, r.product_type
ORDER BY s.cix, r.product_type
