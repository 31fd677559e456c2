-- title: Recommendations and acceptance by product type
-- requires: product_type, product_recommendation_status
-- units: acceptance_rate=percent, accepted=count, label=text, recommendations=count
SELECT product_type AS label,
       count(*) AS recommendations,
       count(*) FILTER (WHERE product_recommendation_status = {{accepted}}) AS accepted,
       count(*) FILTER (WHERE product_recommendation_status = {{accepted}}) / count(*) AS acceptance_rate
FROM {{table}}
GROUP BY ALL
ORDER BY recommendations DESC, label
