-- title: Similarity index: each customer's stated goal (the customer_goals table, one row per customer)
-- requires: customer_id, {{column}}
WITH {{> features/_records}}
SELECT s.cix, any_value(g.customer_goals ORDER BY g.customer_goals) AS value
FROM scope AS s JOIN {{goals}} AS g USING (customer_id)
WHERE g.customer_goals IS NOT NULL
GROUP BY s.cix
ORDER BY s.cix
