-- title: Product sales from accepted recommendations
-- requires: product_sales_amount, product_recommendation_status
-- units: avg_sale_amount=currency, sales=count, total_product_sales=currency
SELECT sum(product_sales_amount) AS total_product_sales,
       count(product_sales_amount) AS sales,
       avg(product_sales_amount) AS avg_sale_amount
FROM {{table}}
WHERE product_recommendation_status = {{accepted}}
