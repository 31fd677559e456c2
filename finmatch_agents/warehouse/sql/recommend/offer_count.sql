-- title: Recommender inputs: how many dated offers there are (sizes the partitions of the offers read)
-- requires: customer_id, product_id, product_recommendation_date
-- units: offers=count
SELECT count(*) AS offers FROM {{table}}
WHERE customer_id IS NOT NULL AND product_id IS NOT NULL
  AND TRY_CAST(product_recommendation_date AS DATE) IS NOT NULL
