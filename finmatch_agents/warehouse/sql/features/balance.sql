-- title: Customer feature input: account balance and its percentile among customers
-- requires: customer_id, account_balance, {{column}}
WITH {{> features/_records}},
{{> features/_balance}}
SELECT s.cix, f.balance, f.balance_score
FROM scope AS s JOIN f_balance AS f USING (customer_id)
ORDER BY s.cix
