-- title: Recommendations and acceptance by delivery channel (digital flag from the digital_channels assumption)
-- requires: channel, product_recommendation_status
-- units: all_recommendations=count, acceptance_rate=percent, acceptance_spread=percent, accepted=count, best_worst_ratio=times, channel=text, channel_type=text, channels_compared=count, digital_channels=text, lift=times, lift_vs_others=times, min_group_size=count, others_rate=percent, overall_rate=percent, recommendations=count, share=percent, vs_overall=pp
WITH base AS (
    SELECT coalesce(channel, 'Not recorded') AS channel,
           CASE WHEN product_recommendation_status = {{accepted}} THEN 1.0 ELSE 0.0 END AS accepted
    FROM {{table}}
),
overall AS (SELECT count(*) AS all_recommendations, avg(accepted) AS overall_rate FROM base),
channels AS (
    SELECT channel, count(*) AS recommendations, sum(accepted) AS accepted, avg(accepted) AS acceptance_rate
    FROM base
    GROUP BY channel
    HAVING count(*) >= {{min_group_size}}
)
SELECT channel,
       CASE WHEN channel = 'Not recorded' THEN 'Unknown' WHEN list_contains({{digital_channels}}, channel) THEN 'Digital'
            ELSE 'Assisted' END AS channel_type,
       recommendations,
       recommendations / all_recommendations AS share,
       all_recommendations,
       accepted,
       acceptance_rate,
       overall_rate,
       acceptance_rate - overall_rate AS vs_overall,
       acceptance_rate / nullif(overall_rate, 0) AS lift,
       (sum(accepted) OVER () - accepted) / nullif(sum(recommendations) OVER () - recommendations, 0) AS others_rate,
       acceptance_rate / nullif((sum(accepted) OVER () - accepted)
         / nullif(sum(recommendations) OVER () - recommendations, 0), 0) AS lift_vs_others,
       max(acceptance_rate) OVER () - min(acceptance_rate) OVER () AS acceptance_spread,
       max(acceptance_rate) OVER () / nullif(min(acceptance_rate) OVER (), 0) AS best_worst_ratio,
       count(*) OVER () AS channels_compared,
       {{digital_channels}} AS digital_channels,
       {{min_group_size}} AS min_group_size
FROM channels, overall
ORDER BY acceptance_rate DESC, channel
