-- title: Mis-targeted segment x product pairs: acceptance against the score-expected rate
-- requires: customer_segment, product_type, recommendation_score, product_recommendation_status
-- units: total_accepted=count, acceptance_rate=percent, accepted=count, avg_score=score, cost_per_recommendation=currency, expected_actual_ratio=times, expected_rate=percent, gap=pp, min_group_size=count, missed_acceptances=count, mistarget_gap=pp, mistargeted=text, mistargeted_missed_acceptances=count, mistargeted_pairs=count, mistargeted_recommendations=count, not_accepted=count, not_accepted_cost=currency, pairs_compared=count, product_type=text, recommendations=count, segment=text
WITH base AS (
    -- the score values alone, for the decile cuts (a narrow read: a CTE read twice would be materialised)
    SELECT recommendation_score AS value,
           CASE WHEN product_recommendation_status = {{accepted}} THEN 1 ELSE 0 END AS accepted
    FROM {{table}}
    WHERE recommendation_score IS NOT NULL
),
{{> common/_value_bins}},
scored AS (
    -- one row per segment x product type x score decile (each record joined to its score value's decile)
    SELECT r.customer_segment AS segment, r.product_type, v.bin AS decile, count(*) AS n,
           sum(CASE WHEN r.product_recommendation_status = {{accepted}} THEN 1 ELSE 0 END) AS accepted,
           sum(r.recommendation_score) AS score_sum
    FROM {{table}} AS r
    JOIN value_bins AS v ON v.value = r.recommendation_score
    GROUP BY r.customer_segment, r.product_type, v.bin
),
deciles AS (
    SELECT decile, sum(accepted) / sum(n) AS decile_rate
    FROM scored
    GROUP BY decile
),
pairs AS (
    -- expected_rate: the mean over the pair's records of their decile's acceptance rate
    SELECT s.segment, s.product_type, CAST(sum(s.n) AS BIGINT) AS recommendations, sum(s.accepted) AS accepted,
           sum(s.score_sum) / sum(s.n) AS avg_score, sum(s.accepted) / sum(s.n) AS acceptance_rate,
           sum(d.decile_rate * s.n) / sum(s.n) AS expected_rate
    FROM scored AS s
    JOIN deciles AS d ON d.decile = s.decile
    WHERE s.segment IS NOT NULL AND s.product_type IS NOT NULL
    GROUP BY s.segment, s.product_type
    HAVING sum(s.n) >= {{min_group_size}}
),
gaps AS (
    SELECT *, expected_rate - acceptance_rate AS gap,
           (expected_rate - acceptance_rate) * recommendations AS missed_acceptances,
           expected_rate - acceptance_rate >= {{mistarget_gap}} AS mistargeted
    FROM pairs
)
SELECT segment, product_type, recommendations, accepted, avg_score, acceptance_rate, expected_rate, gap,
       missed_acceptances, mistargeted,
       expected_rate / nullif(acceptance_rate, 0) AS expected_actual_ratio,
       recommendations - accepted AS not_accepted,
       (recommendations - accepted) * CAST({{cost_per_recommendation}} AS DOUBLE) AS not_accepted_cost,
       CAST({{cost_per_recommendation}} AS DOUBLE) AS cost_per_recommendation,
       CAST({{mistarget_gap}} AS DOUBLE) AS mistarget_gap,
       {{min_group_size}} AS min_group_size,
       count(*) OVER () AS pairs_compared,
       count(*) FILTER (WHERE mistargeted) OVER () AS mistargeted_pairs,
       sum(recommendations) FILTER (WHERE mistargeted) OVER () AS mistargeted_recommendations,
       sum(missed_acceptances) FILTER (WHERE mistargeted) OVER () AS mistargeted_missed_acceptances,
       (SELECT sum(accepted) FROM bin_values) AS total_accepted
FROM gaps
ORDER BY missed_acceptances DESC, segment, product_type
