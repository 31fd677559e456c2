-- title: Recommendation acceptance rate
-- requires: product_recommendation_status
SELECT count(*) AS recommendations,
       count(*) FILTER (WHERE product_recommendation_status = 'Accepted') AS accepted,
       count(*) FILTER (WHERE product_recommendation_status = 'Declined') AS declined,
       count(*) FILTER (WHERE product_recommendation_status = 'Accepted') / nullif(count(*), 0) AS acceptance_rate,
       count(*) FILTER (WHERE product_recommendation_status = 'Accepted')
         / nullif(count(*) FILTER (WHERE product_recommendation_status IN ('Accepted', 'Declined')), 0)
         AS decided_acceptance_rate
FROM {{table}}
