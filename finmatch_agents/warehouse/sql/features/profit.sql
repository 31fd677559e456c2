-- title: Customer feature: profit for the bank (annual revenue from accepted products x catalogue margin, as a percentile)
-- requires: customer_id, product_recommendation_status, product_sales_amount, product_id, {{column}}, products.product_id, products.margin
WITH {{> features/_records}},
{{> features/_profit}}
SELECT s.cix, f.annual_revenue, f.profit
FROM scope AS s JOIN f_profit AS f USING (customer_id)
ORDER BY s.cix
