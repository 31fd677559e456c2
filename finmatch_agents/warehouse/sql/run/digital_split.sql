-- title: Digital versus assisted channels: share of recommendations and acceptance (from the run table finmatch_offers)
-- reads: finmatch_offers
-- requires: channel, product_recommendation_status
-- units: all_recommendations=count, assisted_acceptance=percent, assisted_recommendations=count, assisted_share=percent, digital_acceptance=percent, digital_assisted_ratio=times, digital_channels=text, digital_recommendations=count, digital_share=percent, digital_vs_assisted=pp, overall_rate=percent, recommendations=count
WITH base AS (
    SELECT list_contains({{digital_channels}}, channel) AS digital, records,
           CASE WHEN product_recommendation_status = {{accepted}} THEN records ELSE 0 END AS accepted
    FROM finmatch_offers
    WHERE channel IS NOT NULL
),
split AS (
    SELECT CAST(coalesce(sum(records), 0) AS BIGINT) AS recommendations,
           CAST(coalesce(sum(records) FILTER (WHERE digital), 0) AS BIGINT) AS digital_recommendations,
           CAST(coalesce(sum(records) FILTER (WHERE NOT digital), 0) AS BIGINT) AS assisted_recommendations,
           sum(accepted) / sum(records) AS overall_rate,
           sum(accepted) FILTER (WHERE digital) / sum(records) FILTER (WHERE digital) AS digital_acceptance,
           sum(accepted) FILTER (WHERE NOT digital) / sum(records) FILTER (WHERE NOT digital) AS assisted_acceptance
    FROM base
)
SELECT recommendations, digital_recommendations, assisted_recommendations,
       digital_recommendations / nullif(recommendations, 0) AS digital_share,
       assisted_recommendations / nullif(recommendations, 0) AS assisted_share,
       overall_rate, digital_acceptance, assisted_acceptance,
       digital_acceptance - assisted_acceptance AS digital_vs_assisted,
       digital_acceptance / nullif(assisted_acceptance, 0) AS digital_assisted_ratio,
       {{digital_channels}} AS digital_channels,
       (SELECT CAST(sum(records) AS BIGINT) FROM finmatch_offers) AS all_recommendations
FROM split
