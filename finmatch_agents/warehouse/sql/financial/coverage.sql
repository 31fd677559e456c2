-- title: Catalogue coverage: accepted sales whose product has a margin
-- requires: product_recommendation_status, product_sales_amount, product_id, products.product_id, products.margin
-- units: accepted_sales=count, coverage_amount_share=percent, coverage_share=percent, covered_sales_amount=currency, products_without_margin=count, sales_with_margin=count, sales_without_margin=count
WITH {{> financial/_catalogue}},
sales AS (
    SELECT r.product_id, r.product_sales_amount AS amount, c.margin
    FROM {{table}} AS r
    LEFT JOIN catalogue AS c ON c.product_id = r.product_id
    WHERE r.product_recommendation_status = {{accepted}} AND r.product_sales_amount IS NOT NULL
)
SELECT count(*) AS accepted_sales,
       count(margin) AS sales_with_margin,
       count(*) - count(margin) AS sales_without_margin,
       count(margin) / nullif(count(*), 0) AS coverage_share,
       round(sum(amount) FILTER (WHERE margin IS NOT NULL), 2) AS covered_sales_amount,
       sum(amount) FILTER (WHERE margin IS NOT NULL) / nullif(sum(amount), 0) AS coverage_amount_share,
       count(DISTINCT product_id) FILTER (WHERE margin IS NULL) AS products_without_margin
FROM sales
