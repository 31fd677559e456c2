-- title: Sync latency overall (days from recommendation to connector sync)
-- requires: product_recommendation_date, _fivetran_synced
-- units: is_total=number, max_days=number, mean_days=number, median_days=number, overall_median_days=number, overall_share_within_day=percent, p95_days=number, records=count, share_within_day=percent, slowest_median_days=number, source_system=text, tail_quantile=percent
WITH lags AS (
    SELECT date_diff('minute', CAST(product_recommendation_date AS TIMESTAMP), _fivetran_synced) / 1440.0 AS days
    FROM {{table}}
    WHERE product_recommendation_date IS NOT NULL AND _fivetran_synced IS NOT NULL
)
SELECT 'All sources' AS source_system, count(*) AS records, avg(days) AS mean_days,
       quantile_cont(days, 0.5) AS median_days, quantile_cont(days, 0.95) AS p95_days, max(days) AS max_days,
       avg(CASE WHEN days <= 1 THEN 1.0 ELSE 0.0 END) AS share_within_day,
       0.95 AS tail_quantile,
       quantile_cont(days, 0.5) AS overall_median_days,
       avg(CASE WHEN days <= 1 THEN 1.0 ELSE 0.0 END) AS overall_share_within_day,
       1 AS is_total
FROM lags
