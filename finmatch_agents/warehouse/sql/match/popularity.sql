-- title: Backtest baseline: acceptances per product in the training window (popularity)
-- requires: product_id, product_recommendation_status, product_recommendation_date
SELECT product_id, count(*) AS acceptances
FROM {{table}}
WHERE product_recommendation_status = {{accepted}} AND product_id IS NOT NULL
  AND product_recommendation_date < {{as_of}}
GROUP BY product_id
ORDER BY acceptances DESC, product_id
