-- title: Digital versus assisted channels: share of recommendations and acceptance
-- run-variant: run/digital_split
-- requires: channel, product_recommendation_status
-- units: all_recommendations=count, assisted_acceptance=percent, assisted_recommendations=count, assisted_share=percent, digital_acceptance=percent, digital_assisted_ratio=times, digital_channels=text, digital_recommendations=count, digital_share=percent, digital_vs_assisted=pp, overall_rate=percent, recommendations=count
WITH base AS (
    SELECT list_contains({{digital_channels}}, channel) AS digital,
           CASE WHEN product_recommendation_status = {{accepted}} THEN 1.0 ELSE 0.0 END AS accepted
    FROM {{table}}
    WHERE channel IS NOT NULL
),
split AS (
    SELECT count(*) AS recommendations,
           count(*) FILTER (WHERE digital) AS digital_recommendations,
           count(*) FILTER (WHERE NOT digital) AS assisted_recommendations,
           avg(accepted) AS overall_rate,
           avg(accepted) FILTER (WHERE digital) AS digital_acceptance,
           avg(accepted) FILTER (WHERE NOT digital) AS assisted_acceptance
    FROM base
)
SELECT recommendations, digital_recommendations, assisted_recommendations,
       digital_recommendations / nullif(recommendations, 0) AS digital_share,
       assisted_recommendations / nullif(recommendations, 0) AS assisted_share,
       overall_rate, digital_acceptance, assisted_acceptance,
       digital_acceptance - assisted_acceptance AS digital_vs_assisted,
       digital_acceptance / nullif(assisted_acceptance, 0) AS digital_assisted_ratio,
       {{digital_channels}} AS digital_channels,
       (SELECT count(*) FROM {{table}}) AS all_recommendations
FROM split
