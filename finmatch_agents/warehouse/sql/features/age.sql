-- title: Customer feature input: age and its investment-horizon score (young 1, old 0)
-- requires: customer_id, customer_age, {{column}}
WITH {{> features/_records}},
{{> features/_age}}
SELECT s.cix, f.age, f.age_score
FROM scope AS s JOIN f_age AS f USING (customer_id)
ORDER BY s.cix
