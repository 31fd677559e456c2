-- title: Customer preference input: affinity per product type (Low -1, Medium 0, High +1; mean over the offers of that type)
-- requires: customer_id, product_type, customer_product_affinity, {{column}}
WITH {{> features/_records}},
{{> features/_types}},
{{> features/_affinity}}
SELECT s.cix, y.tix, f.affinity
FROM scope AS s
JOIN f_affinity AS f USING (customer_id)
JOIN types AS y USING (product_type)
WHERE f.affinity IS NOT NULL
ORDER BY s.cix, y.tix
