-- title: Customer features: every per-customer column in one statement (the data has all their inputs)
-- requires: customer_id, customer_churn_probability, product_recommendation_status, product_sales_amount, product_id, products.product_id, products.margin, customer_age, annual_income, account_balance, credit_score, customer_transaction_count, product_type, products.risk_to_customer, customer_product_interests, customer_product_affinity, customer_product_usage_trend, {{column}}
WITH
-- For a few customers: their percentiles are counted against one aggregate of the book (_reference_ranks),
-- which gives the numbers percent_rank() gives over the whole book without sorting it. The product types and
-- the per-type preferences come as lists in the same row, so one statement serves `match customer` whole.
{{> features/_records_few}},
{{> features/_customers}},
{{> features/_churn}},
{{> features/_reference}},
{{> features/_reference_ranks}},
{{> features/_age}},
{{> features/_credit}},
{{> features/_holdings}},
{{> features/_held_risk}},
{{> features/_interests}},
{{> features/_held}},
{{> features/_types}},
{{> features/_affinity}},
{{> features/_usage_trend}},
f_preferences AS (
    -- the rows of features/preferences, one list per customer (tix follows the types list below)
    SELECT a.customer_id,
           list({'tix': y.tix, 'affinity': a.affinity, 'usage_trend': u.usage_trend} ORDER BY y.tix)
             FILTER (WHERE a.affinity IS NOT NULL OR u.usage_trend IS NOT NULL) AS preferences
    FROM f_affinity AS a
    JOIN f_usage_trend AS u USING (customer_id, product_type)
    JOIN types AS y USING (product_type)
    GROUP BY a.customer_id
)
SELECT s.cix, s.customer_id,
       base.records, churn.churn_probability, profit.annual_revenue, profit.profit,
       age.age, age.age_score, income.income, income.income_score,
       balance.balance, balance.balance_score, credit.credit_score, credit.credit_score_score,
       activity.transactions, activity.activity_score, holdings.accepted_offers, holdings.held_types,
       holdings.investment_held, holdings.credit_held, holdings.breadth_score, holdings.investment_score,
       holdings.credit_experience_score, held_risk.held_risk_score, interests.interests, held.held,
       (SELECT list(product_type ORDER BY tix) FROM types) AS types, pref.preferences
FROM scope AS s
JOIN f_customers AS base USING (customer_id)
LEFT JOIN f_churn AS churn USING (customer_id)
LEFT JOIN f_profit AS profit USING (customer_id)
LEFT JOIN f_age AS age USING (customer_id)
LEFT JOIN f_income AS income USING (customer_id)
LEFT JOIN f_balance AS balance USING (customer_id)
LEFT JOIN f_credit AS credit USING (customer_id)
LEFT JOIN f_transactions AS activity USING (customer_id)
LEFT JOIN f_holdings AS holdings USING (customer_id)
LEFT JOIN f_held_risk AS held_risk USING (customer_id)
LEFT JOIN f_interests AS interests USING (customer_id)
LEFT JOIN f_held AS held USING (customer_id)
LEFT JOIN f_preferences AS pref USING (customer_id)
ORDER BY s.cix
