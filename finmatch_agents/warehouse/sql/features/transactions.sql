-- title: Customer feature input: transactions in six months and their percentile among customers
-- requires: customer_id, customer_transaction_count, {{column}}
WITH {{> features/_records}},
{{> features/_transactions}}
SELECT s.cix, f.transactions, f.activity_score
FROM scope AS s JOIN f_transactions AS f USING (customer_id)
ORDER BY s.cix
