-- title: Recommendations to low-affinity customers: acceptance and delivery cost without result
-- run-variant: run/low_affinity
-- requires: customer_product_affinity, product_recommendation_status
-- units: acceptance_rate=percent, accepted=count, affinity=text, cost_per_recommendation=currency, low_acceptance_rate=percent, low_accepted=count, low_not_accepted=count, low_not_accepted_cost=currency, low_recommendations=count, low_share=percent, low_share_of_accepted=percent, medium_high_acceptance_rate=percent, medium_high_low_gap=pp, medium_high_low_ratio=times, not_accepted=count, not_accepted_cost=currency, recommendations=count, share=percent
WITH levels AS (
    SELECT coalesce(customer_product_affinity, 'Not recorded') AS affinity, count(*) AS recommendations,
           count(*) FILTER (WHERE product_recommendation_status = {{accepted}}) AS accepted
    FROM {{table}}
    GROUP BY 1
),
{{> optimization/_low_affinity_tail}}
