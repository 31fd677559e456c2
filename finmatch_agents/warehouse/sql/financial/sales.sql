-- title: Accepted recommendations and their product sales
-- requires: product_recommendation_status, product_sales_amount
SELECT count(*) AS recommendations,
       count(*) FILTER (WHERE product_recommendation_status = 'Accepted') AS accepted,
       count(product_sales_amount) FILTER (WHERE product_recommendation_status = 'Accepted') AS accepted_sales,
       count(*) FILTER (WHERE product_recommendation_status = 'Accepted' AND product_sales_amount IS NULL)
         AS accepted_without_amount,
       round(sum(product_sales_amount) FILTER (WHERE product_recommendation_status = 'Accepted'), 2) AS total_sales,
       round(avg(product_sales_amount) FILTER (WHERE product_recommendation_status = 'Accepted'), 2) AS avg_sale_amount
FROM {{table}}
