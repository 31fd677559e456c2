-- title: Customers, recommendations and acceptance by customer segment
-- requires: customer_id, customer_segment, product_recommendation_status
-- units: acceptance_rate=percent, customers=count, label=text, recommendations=count
SELECT coalesce(customer_segment, '(missing)') AS label,
       count(DISTINCT customer_id) AS customers,
       count(*) AS recommendations,
       count(*) FILTER (WHERE product_recommendation_status = {{accepted}}) / count(*) AS acceptance_rate
FROM {{table}}
GROUP BY ALL
ORDER BY customers DESC, label
