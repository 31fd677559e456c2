-- title: (fragment) the risk the customer already accepted: mean catalogue risk of the products held
held_risk_catalogue AS (
    SELECT product_id, max(risk_to_customer) AS risk_to_customer FROM {{products}} GROUP BY product_id
),
f_held_risk AS (
    SELECT r.customer_id,
           avg((k.risk_to_customer - 1) / 4.0) FILTER (WHERE r.product_recommendation_status = {{accepted}})
             AS held_risk_score
    FROM records AS r
    LEFT JOIN held_risk_catalogue AS k ON k.product_id = r.product_id
    GROUP BY r.customer_id
)
