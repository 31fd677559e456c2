-- title: Acceptance by transaction-count quintile, with the correlation of transaction count and acceptance
-- requires: customer_transaction_count, product_recommendation_status, record_id
-- units: acceptance_rate=percent, acceptance_spread=percent, avg_transactions=count, bottom_quintile_rate=percent, correlation=score, distinct_counts=count, max_transactions=count, min_transactions=count, quintile=count, recommendations=count, records=count, single_value_quintiles=count, top_bottom_gap=pp, top_quintile_rate=percent
WITH base AS (
    SELECT customer_transaction_count AS tx,
           CASE WHEN product_recommendation_status = {{accepted}} THEN 1.0 ELSE 0.0 END AS accepted,
           ntile(5) OVER (ORDER BY customer_transaction_count, record_id) AS quintile
    FROM {{table}}
    WHERE customer_transaction_count IS NOT NULL
),
overall AS (
    SELECT corr(tx, accepted) AS correlation, count(*) AS records, count(DISTINCT tx) AS distinct_counts FROM base
),
quintiles AS (
    SELECT quintile, count(*) AS recommendations, min(tx) AS min_transactions, max(tx) AS max_transactions,
           avg(tx) AS avg_transactions, avg(accepted) AS acceptance_rate
    FROM base
    GROUP BY quintile
)
SELECT quintile, recommendations, min_transactions, max_transactions, avg_transactions, acceptance_rate,
       correlation, records, distinct_counts,
       count(*) FILTER (WHERE min_transactions = max_transactions) OVER () AS single_value_quintiles,
       max(acceptance_rate) FILTER (WHERE quintile = 5) OVER () AS top_quintile_rate,
       max(acceptance_rate) FILTER (WHERE quintile = 1) OVER () AS bottom_quintile_rate,
       max(acceptance_rate) FILTER (WHERE quintile = 5) OVER ()
         - max(acceptance_rate) FILTER (WHERE quintile = 1) OVER () AS top_bottom_gap,
       max(acceptance_rate) OVER () - min(acceptance_rate) OVER () AS acceptance_spread
FROM quintiles, overall
ORDER BY quintile
