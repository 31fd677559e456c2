-- title: Product types of the customers' records (the columns of the per-type preference inputs)
-- requires: customer_id, product_type, {{column}}
WITH {{> features/_records}},
{{> features/_types}}
SELECT tix, product_type FROM types ORDER BY tix
