-- title: Predictive models: expected annual revenue of one accepted offer per product (median sale × catalogue margin)
-- requires: product_id, product_sales_amount, product_recommendation_status, products.margin
-- units: product_id=text, median_sale=currency, margin=percent, value=currency, sales=count
SELECT p.product_id, median(r.product_sales_amount) AS median_sale, any_value(p.margin) AS margin,
       median(r.product_sales_amount) * any_value(p.margin) AS value, count(r.product_sales_amount) AS sales
FROM {{products}} AS p
LEFT JOIN {{table}} AS r
  ON r.product_id = p.product_id AND r.product_recommendation_status = {{accepted}}
GROUP BY p.product_id
ORDER BY p.product_id
