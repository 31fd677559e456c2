-- title: Customer preference input: usage trend per product type (Decreasing -1, Stable 0, Increasing +1; mean over the offers of that type)
-- requires: customer_id, product_type, customer_product_usage_trend, {{column}}
WITH {{> features/_records}},
{{> features/_types}},
{{> features/_usage_trend}}
SELECT s.cix, y.tix, f.usage_trend
FROM scope AS s
JOIN f_usage_trend AS f USING (customer_id)
JOIN types AS y USING (product_type)
WHERE f.usage_trend IS NOT NULL
ORDER BY s.cix, y.tix
