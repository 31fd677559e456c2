-- title: Customer features: every per-customer column in one statement (the data has all their inputs)
-- requires: customer_id, customer_churn_probability, product_recommendation_status, product_sales_amount, product_id, products.product_id, products.margin, customer_age, annual_income, account_balance, credit_score, customer_transaction_count, product_type, products.risk_to_customer, customer_product_interests, {{column}}
-- For a few customers: their percentiles are counted against one aggregate of the book (_reference_ranks),
-- which gives the numbers percent_rank() gives over the whole book without sorting it.
WITH {{> features/_records_few}},
{{> features/_customers}},
{{> features/_churn}},
{{> features/_reference}},
{{> features/_reference_ranks}},
{{> features/_age}},
{{> features/_credit}},
{{> features/_holdings}},
{{> features/_held_risk}},
{{> features/_interests}},
{{> features/_held}}
SELECT s.cix, s.customer_id,
       base.records, churn.churn_probability, profit.annual_revenue, profit.profit,
       age.age, age.age_score, income.income, income.income_score,
       balance.balance, balance.balance_score, credit.credit_score, credit.credit_score_score,
       activity.transactions, activity.activity_score, holdings.accepted_offers, holdings.held_types,
       holdings.investment_held, holdings.credit_held, holdings.breadth_score, holdings.investment_score,
       holdings.credit_experience_score, held_risk.held_risk_score, interests.interests, held.held
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
ORDER BY s.cix
