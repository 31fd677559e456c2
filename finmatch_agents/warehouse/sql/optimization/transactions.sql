-- title: Acceptance by transaction count (groups cut at count values, ties kept together), with the correlation of transaction count and acceptance
-- requires: customer_transaction_count, product_recommendation_status
-- units: acceptance_rate=percent, acceptance_spread=percent, avg_transactions=count, bottom_quintile_rate=percent, by_value=text, correlation=score, distinct_counts=count, groups=count, max_transactions=count, min_transactions=count, quintile=count, recommendations=count, records=count, top_bottom_gap=pp, top_quintile_rate=percent
WITH base AS (
    SELECT customer_transaction_count AS value,
           CASE WHEN product_recommendation_status = {{accepted}} THEN 1.0 ELSE 0.0 END AS accepted
    FROM {{table}}
    WHERE customer_transaction_count IS NOT NULL
),
{{> common/_value_bins}},
overall AS (
    SELECT corr(value, accepted) AS correlation, count(*) AS records, count(DISTINCT value) AS distinct_counts FROM base
),
quintiles AS (
    SELECT v.bin AS quintile, count(*) AS recommendations, min(b.value) AS min_transactions,
           max(b.value) AS max_transactions, avg(b.value) AS avg_transactions, avg(b.accepted) AS acceptance_rate,
           bool_and(v.by_value) AS by_value
    FROM base AS b
    JOIN value_bins AS v USING (value)
    GROUP BY v.bin
)
SELECT quintile, recommendations, min_transactions, max_transactions, avg_transactions, acceptance_rate,
       correlation, records, distinct_counts, count(*) OVER () AS groups, by_value,
       max(acceptance_rate) FILTER (WHERE quintile = groups_max) OVER () AS top_quintile_rate,
       max(acceptance_rate) FILTER (WHERE quintile = 1) OVER () AS bottom_quintile_rate,
       max(acceptance_rate) FILTER (WHERE quintile = groups_max) OVER ()
         - max(acceptance_rate) FILTER (WHERE quintile = 1) OVER () AS top_bottom_gap,
       max(acceptance_rate) OVER () - min(acceptance_rate) OVER () AS acceptance_spread
FROM (SELECT *, max(quintile) OVER () AS groups_max FROM quintiles) AS q, overall
ORDER BY quintile
