-- title: Annual revenue by product type
-- requires: product_type, product_recommendation_status, product_sales_amount, product_id, products.product_id, products.margin
-- units: accepted_sales=count, annual_revenue=currency, effective_margin=percent, product_type=text, product_types=count, revenue_per_sale=currency, revenue_share=percent, sales=currency, sales_share=percent
WITH {{> financial/_catalogue}},
sold AS (
    SELECT r.product_type, r.product_sales_amount AS amount, r.product_sales_amount * c.margin AS revenue
    FROM {{table}} AS r
    JOIN catalogue AS c ON c.product_id = r.product_id
    WHERE r.product_recommendation_status = {{accepted}} AND r.product_sales_amount IS NOT NULL
      AND r.product_type IS NOT NULL
),
types AS (
    SELECT product_type, count(*) AS accepted_sales, sum(amount) AS sales, sum(revenue) AS revenue
    FROM sold
    GROUP BY product_type
)
SELECT product_type, accepted_sales,
       round(sales, 2) AS sales,
       round(revenue, 2) AS annual_revenue,
       sales / sum(sales) OVER () AS sales_share,
       revenue / sum(revenue) OVER () AS revenue_share,
       revenue / nullif(sales, 0) AS effective_margin,
       round(revenue / accepted_sales, 2) AS revenue_per_sale,
       count(*) OVER () AS product_types
FROM types
ORDER BY revenue DESC, product_type
