-- title: Score calibration: acceptance by recommendation-score decile (cut at score values, ties kept together)
-- requires: recommendation_score, product_recommendation_status
-- units: acceptance_rate=percent, avg_score=score, bottom_decile_rate=percent, calibration_gap=pp, decile=count, decile_drops=count, max_overstatement=pp, max_score=score, mean_abs_calibration_gap=pp, min_score=score, recommendations=count, score_acceptance_correlation=score, top_bottom_ratio=times, top_decile_rate=percent
WITH base AS (
    SELECT recommendation_score AS value,
           CASE WHEN product_recommendation_status = {{accepted}} THEN 1.0 ELSE 0.0 END AS accepted
    FROM {{table}}
    WHERE recommendation_score IS NOT NULL
),
{{> common/_value_bins}},
deciles AS (
    -- from the per-value counts: each score value's records and acceptances summed into its decile
    SELECT bin AS decile, CAST(sum(n) AS BIGINT) AS recommendations, min(value) AS min_score, max(value) AS max_score,
           sum(value * n) / sum(n) AS avg_score, sum(accepted) / sum(n) AS acceptance_rate
    FROM value_bins
    GROUP BY bin
),
steps AS (
    SELECT *, CASE WHEN acceptance_rate < lag(acceptance_rate) OVER (ORDER BY decile) THEN 1 ELSE 0 END AS drop_flag,
           max(decile) OVER () AS top_decile
    FROM deciles
)
SELECT decile, recommendations, min_score, max_score, avg_score, acceptance_rate,
       avg_score - acceptance_rate AS calibration_gap,
       max(acceptance_rate) FILTER (WHERE decile = top_decile) OVER () AS top_decile_rate,
       max(acceptance_rate) FILTER (WHERE decile = 1) OVER () AS bottom_decile_rate,
       max(acceptance_rate) FILTER (WHERE decile = top_decile) OVER ()
         / nullif(max(acceptance_rate) FILTER (WHERE decile = 1) OVER (), 0) AS top_bottom_ratio,
       corr(avg_score, acceptance_rate) OVER () AS score_acceptance_correlation,
       avg(abs(avg_score - acceptance_rate)) OVER () AS mean_abs_calibration_gap,
       max(avg_score - acceptance_rate) OVER () AS max_overstatement,
       sum(drop_flag) OVER () AS decile_drops
FROM steps
ORDER BY decile
