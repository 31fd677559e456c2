-- title: Customer feature inputs: products held (accepted recommendations), their breadth, investment and credit experience
-- requires: customer_id, product_recommendation_status, product_type, {{column}}
WITH {{> features/_records}},
{{> features/_holdings}}
SELECT s.cix, f.accepted_offers, f.held_types, f.investment_held, f.credit_held, f.breadth_score, f.investment_score, f.credit_experience_score
FROM scope AS s JOIN f_holdings AS f USING (customer_id)
ORDER BY s.cix
