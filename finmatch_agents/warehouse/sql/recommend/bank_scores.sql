-- title: The bank's own recommendation score of each offer it made in an evaluation window
-- requires: customer_id, product_id, product_recommendation_date, recommendation_score
-- units: cix=count, product_id=text, score=score
WITH {{> recommend/_customers}}
SELECT c.cix, r.product_id, max(r.recommendation_score) AS score
FROM {{table}} AS r
JOIN customers AS c USING (customer_id)
WHERE r.product_id IS NOT NULL AND r.recommendation_score IS NOT NULL
  AND TRY_CAST(r.product_recommendation_date AS DATE) >= {{window_from}}
  AND ({{window_to}} IS NULL OR TRY_CAST(r.product_recommendation_date AS DATE) < {{window_to}})
  AND c.cix % {{parts}} = {{part}}
GROUP BY c.cix, r.product_id
ORDER BY c.cix, score DESC, r.product_id
