-- title: Similarity index: each customer's {{group_column}} (the value of the latest record that has one)
-- requires: customer_id, {{group_column}}, {{column}}
WITH {{> features/_records}}
SELECT s.cix, arg_max(r.{{group_column}}, (r.{{column}}, r.{{group_column}})) AS value
FROM scope AS s JOIN records AS r USING (customer_id)
WHERE r.{{group_column}} IS NOT NULL
GROUP BY s.cix
ORDER BY s.cix
