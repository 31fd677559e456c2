-- title: Product sales by product type
-- requires: product_type, product_sales_amount, product_recommendation_status
-- units: label=text, sales=currency
SELECT product_type AS label,
       sum(product_sales_amount) AS sales
FROM {{table}}
WHERE product_recommendation_status = {{accepted}}
GROUP BY ALL
ORDER BY sales DESC NULLS LAST, label
