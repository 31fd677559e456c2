-- title: (fragment) products held (accepted recommendations): breadth, investment and credit experience
holdings_per_customer AS (
    SELECT customer_id,
           count(*) FILTER (WHERE product_recommendation_status = {{accepted}}) AS accepted_offers,
           count(DISTINCT product_type) FILTER (WHERE product_recommendation_status = {{accepted}}) AS held_types,
           count(*) FILTER (WHERE product_recommendation_status = {{accepted}}
                              AND list_contains({{investment_types}}, product_type)) AS investment_held,
           count(*) FILTER (WHERE product_recommendation_status = {{accepted}}
                              AND list_contains({{credit_types}}, product_type)) AS credit_held
    FROM records
    GROUP BY customer_id
),
f_holdings AS (
    SELECT customer_id, accepted_offers, held_types, investment_held, credit_held,
           least(held_types / CAST({{breadth_full}} AS DOUBLE), 1) AS breadth_score,
           least(investment_held / CAST({{experience_full}} AS DOUBLE), 1) AS investment_score,
           least(credit_held / CAST({{experience_full}} AS DOUBLE), 1) AS credit_experience_score
    FROM holdings_per_customer
)
