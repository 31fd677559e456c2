-- title: Products each customer already holds (accepted recommendations)
-- requires: customer_id, product_recommendation_status, product_id, {{column}}
WITH {{> features/_records}},
held AS (
    SELECT DISTINCT customer_id, product_id FROM records
    WHERE product_recommendation_status = {{accepted}} AND product_id IS NOT NULL
)
SELECT s.cix, h.product_id
FROM scope AS s JOIN held AS h USING (customer_id)
ORDER BY s.cix, h.product_id
