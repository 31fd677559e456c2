-- title: Customer features: the customers and how many recommendation records each has
-- requires: customer_id, {{column}}
WITH {{> features/_records}},
{{> features/_customers}}
SELECT s.cix, s.customer_id, f.records
FROM scope AS s JOIN f_customers AS f USING (customer_id)
ORDER BY s.cix
