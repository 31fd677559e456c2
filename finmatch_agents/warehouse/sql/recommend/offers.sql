-- title: Recommender inputs: every dated offer with its customer, product, day and outcome
-- requires: customer_id, product_id, product_recommendation_status, product_recommendation_date
-- units: cix=count, product_id=text, day=count, accepted=number, declined=number
WITH {{> recommend/_customers}}
SELECT c.cix, r.product_id,
       CAST(date_diff('day', DATE '1970-01-01', TRY_CAST(r.product_recommendation_date AS DATE)) AS INTEGER) AS day,
       coalesce(r.product_recommendation_status = {{accepted}}, false) AS accepted,
       coalesce(r.product_recommendation_status = {{declined}}, false) AS declined
FROM {{table}} AS r
JOIN customers AS c USING (customer_id)
WHERE r.product_id IS NOT NULL AND TRY_CAST(r.product_recommendation_date AS DATE) IS NOT NULL
  AND c.cix % {{parts}} = {{part}}

