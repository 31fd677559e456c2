-- title: Customer preference input: stated interests (the distinct interest texts of the customer's records, joined)
-- requires: customer_id, customer_product_interests, {{column}}
WITH {{> features/_records}},
{{> features/_interests}}
SELECT s.cix, f.interests
FROM scope AS s JOIN f_interests AS f USING (customer_id)
ORDER BY s.cix
