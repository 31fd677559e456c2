-- title: Recommendation acceptance rate (from the run table finmatch_offers)
-- reads: finmatch_offers
-- requires: product_recommendation_status
-- units: acceptance_rate=percent, accepted=count, decided_acceptance_rate=percent, declined=count, recommendations=count
WITH counts AS (
    SELECT CAST(coalesce(sum(records), 0) AS BIGINT) AS recommendations,
           CAST(coalesce(sum(records) FILTER (WHERE product_recommendation_status = {{accepted}}), 0) AS BIGINT)
             AS accepted,
           CAST(coalesce(sum(records) FILTER (WHERE product_recommendation_status = {{declined}}), 0) AS BIGINT)
             AS declined
    FROM finmatch_offers
)
SELECT recommendations, accepted, declined,
       accepted / nullif(recommendations, 0) AS acceptance_rate,
       accepted / nullif(accepted + declined, 0) AS decided_acceptance_rate
FROM counts
