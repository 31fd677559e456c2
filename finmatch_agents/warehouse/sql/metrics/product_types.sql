-- title: Recommendations and acceptance by product type
-- requires: product_type, product_recommendation_status
SELECT product_type AS label,
       count(*) AS recommendations,
       count(*) FILTER (WHERE product_recommendation_status = 'Accepted') AS accepted,
       count(*) FILTER (WHERE product_recommendation_status = 'Accepted') / count(*) AS acceptance_rate
FROM {{table}}
GROUP BY ALL
ORDER BY recommendations DESC, label
