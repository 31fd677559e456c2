-- title: Sales recorded on recommendations that were not accepted
-- requires: product_sales_amount, product_recommendation_status
-- units: inconsistent_rows=count
SELECT count(*) AS inconsistent_rows
FROM {{table}}
WHERE product_sales_amount IS NOT NULL
  AND product_recommendation_status IS DISTINCT FROM {{accepted}}
