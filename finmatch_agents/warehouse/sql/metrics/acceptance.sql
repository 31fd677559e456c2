-- title: Recommendation acceptance rate
-- run-variant: run/acceptance
-- requires: product_recommendation_status
-- units: acceptance_rate=percent, accepted=count, decided_acceptance_rate=percent, declined=count, recommendations=count
SELECT count(*) AS recommendations,
       count(*) FILTER (WHERE product_recommendation_status = {{accepted}}) AS accepted,
       count(*) FILTER (WHERE product_recommendation_status = {{declined}}) AS declined,
       count(*) FILTER (WHERE product_recommendation_status = {{accepted}}) / nullif(count(*), 0) AS acceptance_rate,
       count(*) FILTER (WHERE product_recommendation_status = {{accepted}})
         / nullif(count(*) FILTER (WHERE product_recommendation_status IN ({{accepted}}, {{declined}})), 0)
         AS decided_acceptance_rate
FROM {{table}}
