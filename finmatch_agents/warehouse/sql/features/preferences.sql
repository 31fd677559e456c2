-- title: Customer preference inputs: affinity and usage trend per product type in one statement (the data has both)
-- requires: customer_id, product_type, customer_product_affinity, customer_product_usage_trend, {{column}}
WITH {{> features/_records}},
{{> features/_types}},
{{> features/_affinity}},
{{> features/_usage_trend}}
SELECT s.cix, y.tix, a.affinity, u.usage_trend
FROM scope AS s
JOIN f_affinity AS a USING (customer_id)
JOIN f_usage_trend AS u USING (customer_id, product_type)
JOIN types AS y USING (product_type)
WHERE a.affinity IS NOT NULL OR u.usage_trend IS NOT NULL
ORDER BY s.cix, y.tix
