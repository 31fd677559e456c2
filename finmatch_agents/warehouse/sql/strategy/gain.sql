-- title: Gain of score-driven targeting: acceptances captured by score tenth (cut at score values) against an untargeted baseline
-- requires: recommendation_score, product_recommendation_status
-- units: acceptance_rate=percent, accepted=count, bottom_percent=number, captured_share=percent, captured_vs_untargeted=pp, contacted_share=percent, cum_accepted=count, cum_recommendations=count, cumulative_rate=percent, half_capture_percent=number, lift=times, min_score=score, overall_rate=percent, recommendations=count, remaining_share=percent, tenth=count, top_percent=count, total_accepted=count, total_recommendations=count
WITH base AS (
    SELECT CASE WHEN product_recommendation_status = {{accepted}} THEN 1.0 ELSE 0.0 END AS accepted,
           recommendation_score AS value
    FROM {{table}}
    WHERE recommendation_score IS NOT NULL
),
{{> common/_value_bins}},
binned AS (
    -- from the per-value counts: each score value's records and acceptances summed into its bin
    SELECT bin, CAST(sum(n) AS BIGINT) AS recommendations, sum(accepted) AS accepted, min(value) AS min_score
    FROM value_bins
    GROUP BY bin
),
tenths AS (
    -- tenth 1 holds the highest scores
    SELECT max(bin) OVER () + 1 - bin AS tenth, recommendations, accepted, accepted / recommendations AS acceptance_rate,
           min_score
    FROM binned
),
cumulative AS (
    SELECT tenth, recommendations, accepted, acceptance_rate, min_score,
           sum(recommendations) OVER (ORDER BY tenth) AS cum_recommendations,
           sum(accepted) OVER (ORDER BY tenth) AS cum_accepted,
           sum(recommendations) OVER () AS total_recommendations,
           sum(accepted) OVER () AS total_accepted
    FROM tenths
),
gain AS (
    SELECT *,
           round(100.0 * cum_recommendations / total_recommendations) AS top_percent,
           100 - round(100.0 * cum_recommendations / total_recommendations) AS bottom_percent,
           cum_recommendations / total_recommendations AS contacted_share,
           cum_accepted / nullif(total_accepted, 0) AS captured_share,
           cum_accepted / cum_recommendations AS cumulative_rate,
           total_accepted / total_recommendations AS overall_rate
    FROM cumulative
)
SELECT tenth, top_percent, bottom_percent, recommendations, accepted, acceptance_rate, min_score,
       cum_recommendations, cum_accepted, contacted_share, captured_share, cumulative_rate, overall_rate,
       cumulative_rate / nullif(overall_rate, 0) AS lift,
       captured_share - contacted_share AS captured_vs_untargeted,
       1 - captured_share AS remaining_share,
       min(top_percent) FILTER (WHERE captured_share >= 0.5) OVER () AS half_capture_percent,
       total_recommendations, total_accepted
FROM gain
ORDER BY tenth
