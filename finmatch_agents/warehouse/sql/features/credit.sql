-- title: Customer feature input: credit score and its credit-management score (300 -> 0, 850 -> 1)
-- requires: customer_id, credit_score, {{column}}
WITH {{> features/_records}},
{{> features/_credit}}
SELECT s.cix, f.credit_score, f.credit_score_score
FROM scope AS s JOIN f_credit AS f USING (customer_id)
ORDER BY s.cix
