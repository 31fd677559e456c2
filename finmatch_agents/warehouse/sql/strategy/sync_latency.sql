-- title: Sync latency by core banking source system (days from recommendation to connector sync)
-- requires: source_system, product_recommendation_date, _fivetran_synced
-- units: is_total=number, max_days=number, mean_days=number, median_days=number, overall_median_days=number, overall_share_within_day=percent, p95_days=number, records=count, share_within_day=percent, slowest_median_days=number, source_system=text, tail_quantile=percent
WITH lags AS (
    SELECT source_system,
           date_diff('minute', CAST(product_recommendation_date AS TIMESTAMP), _fivetran_synced) / 1440.0 AS days
    FROM {{table}}
    WHERE product_recommendation_date IS NOT NULL AND _fivetran_synced IS NOT NULL
),
per_source AS (
    SELECT coalesce(source_system, 'Unknown') AS source_system, 0 AS is_total, count(*) AS records,
           avg(days) AS mean_days, quantile_cont(days, 0.5) AS median_days, quantile_cont(days, 0.95) AS p95_days,
           max(days) AS max_days, avg(CASE WHEN days <= 1 THEN 1.0 ELSE 0.0 END) AS share_within_day
    FROM lags
    GROUP BY 1
    UNION ALL
    SELECT 'All sources', 1, count(*), avg(days), quantile_cont(days, 0.5), quantile_cont(days, 0.95), max(days),
           avg(CASE WHEN days <= 1 THEN 1.0 ELSE 0.0 END)
    FROM lags
)
SELECT source_system, records, mean_days, median_days, p95_days, max_days, share_within_day,
       0.95 AS tail_quantile,
       max(median_days) FILTER (WHERE is_total = 1) OVER () AS overall_median_days,
       max(share_within_day) FILTER (WHERE is_total = 1) OVER () AS overall_share_within_day,
       max(median_days) FILTER (WHERE is_total = 0) OVER () AS slowest_median_days,
       is_total
FROM per_source
ORDER BY is_total, median_days DESC, source_system
