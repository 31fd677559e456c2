-- title: Recommender inputs: each customer's segment on every dated offer (for segment popularity)
-- requires: customer_id, product_id, product_recommendation_date, customer_segment
-- units: cix=count, day=count, segment=text
WITH {{> recommend/_customers}}
SELECT c.cix,
       CAST(date_diff('day', DATE '1970-01-01', TRY_CAST(r.product_recommendation_date AS DATE)) AS INTEGER) AS day,
       r.customer_segment AS segment
FROM {{table}} AS r
JOIN customers AS c USING (customer_id)
WHERE r.product_id IS NOT NULL AND TRY_CAST(r.product_recommendation_date AS DATE) IS NOT NULL
  AND r.customer_segment IS NOT NULL AND c.cix % {{parts}} = {{part}}

