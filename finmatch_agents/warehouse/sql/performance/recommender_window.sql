-- title: The promoted recommender's test window in the data now: offers and acceptances dated from its start
-- requires: customer_id, product_id, product_recommendation_status, product_recommendation_date
-- units: window_from=date, window_offers=count, window_accepted=count, window_customers=count
SELECT CAST({{window_from}} AS DATE) AS window_from, count(*) AS window_offers,
       count(*) FILTER (WHERE product_recommendation_status = {{accepted}}) AS window_accepted,
       count(DISTINCT customer_id) FILTER (WHERE product_recommendation_status = {{accepted}}) AS window_customers
FROM {{table}}
WHERE customer_id IS NOT NULL AND product_id IS NOT NULL
  AND TRY_CAST(product_recommendation_date AS DATE) >= {{window_from}}
