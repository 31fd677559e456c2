-- title: Customers, recommendations and acceptance by customer segment
-- requires: customer_id, customer_segment, product_recommendation_status
SELECT coalesce(customer_segment, '(missing)') AS label,
       count(DISTINCT customer_id) AS customers,
       count(*) AS recommendations,
       count(*) FILTER (WHERE product_recommendation_status = 'Accepted') / count(*) AS acceptance_rate
FROM {{table}}
GROUP BY ALL
ORDER BY customers DESC, label
