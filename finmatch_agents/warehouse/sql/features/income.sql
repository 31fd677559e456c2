-- title: Customer feature input: annual income and its percentile among customers
-- requires: customer_id, annual_income, {{column}}
WITH {{> features/_records}},
{{> features/_income}}
SELECT s.cix, f.income, f.income_score
FROM scope AS s JOIN f_income AS f USING (customer_id)
ORDER BY s.cix
