-- title: Customer feature: churn probability (the bank's modelled probability, mean over the customer's records)
-- requires: customer_id, customer_churn_probability, {{column}}
WITH {{> features/_records}},
{{> features/_churn}}
SELECT s.cix, f.churn_probability
FROM scope AS s JOIN f_churn AS f USING (customer_id)
ORDER BY s.cix
