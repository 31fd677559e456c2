-- title: Accepted recommendations and their product sales
-- requires: product_recommendation_status, product_sales_amount
-- units: accepted=count, accepted_sales=count, accepted_without_amount=count, avg_sale_amount=currency, recommendations=count, total_sales=currency
SELECT count(*) AS recommendations,
       count(*) FILTER (WHERE product_recommendation_status = {{accepted}}) AS accepted,
       count(product_sales_amount) FILTER (WHERE product_recommendation_status = {{accepted}}) AS accepted_sales,
       count(*) FILTER (WHERE product_recommendation_status = {{accepted}} AND product_sales_amount IS NULL)
         AS accepted_without_amount,
       round(sum(product_sales_amount) FILTER (WHERE product_recommendation_status = {{accepted}}), 2) AS total_sales,
       round(avg(product_sales_amount) FILTER (WHERE product_recommendation_status = {{accepted}}), 2) AS avg_sale_amount
FROM {{table}}
