-- title: Sync latency by core banking source system (days from recommendation to connector sync)
-- requires: source_system, product_recommendation_date, _fivetran_synced
-- units: is_total=number, max_days=number, mean_days=number, median_days=number, overall_median_days=number, overall_share_within_day=percent, p95_days=number, records=count, share_within_day=percent, slowest_median_days=number, source_system=text, tail_quantile=percent
WITH lags AS (
    -- records per source system and lag: lags are whole minutes, so there are few distinct values, and the
    -- statistics below read these counts instead of sorting every record
    SELECT coalesce(source_system, 'Unknown') AS source_system,
           date_diff('minute', CAST(product_recommendation_date AS TIMESTAMP), _fivetran_synced) / 1440.0 AS days,
           count(*) AS n
    FROM {{table}}
    WHERE product_recommendation_date IS NOT NULL AND _fivetran_synced IS NOT NULL
    GROUP BY 1, 2
),
hist AS (
    SELECT source_system, 0 AS is_total, days, n FROM lags
    UNION ALL
    SELECT 'All sources', 1, days, sum(n) FROM lags GROUP BY days
),
ranked AS (
    SELECT *, sum(n) OVER (PARTITION BY is_total, source_system ORDER BY days
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS upto,
              sum(n) OVER (PARTITION BY is_total, source_system) AS total
    FROM hist
),
positions AS (
    -- quantile_cont's rule: position (records - 1) * q (from 0, in double precision); the values at its floor
    -- and ceiling, interpolated
    SELECT DISTINCT is_total, source_system, q, CAST(total - 1 AS DOUBLE) * q AS rn
    FROM ranked, (SELECT CAST(0.5 AS DOUBLE) AS q UNION ALL SELECT CAST(0.95 AS DOUBLE)) AS qs
),
quantiles AS (
    SELECT is_total, source_system, q, lo + (hi - lo) * (rn - floor(rn)) AS value
    FROM (SELECT p.is_total, p.source_system, p.q, p.rn,
                 min(r.days) FILTER (WHERE r.upto > floor(p.rn)) AS lo,
                 min(r.days) FILTER (WHERE r.upto > ceil(p.rn)) AS hi
          FROM positions AS p
          JOIN ranked AS r ON r.is_total = p.is_total AND r.source_system = p.source_system
          GROUP BY p.is_total, p.source_system, p.q, p.rn) AS bounds
),
per_source AS (
    SELECT h.source_system, h.is_total, CAST(sum(h.n) AS BIGINT) AS records, sum(h.days * h.n) / sum(h.n) AS mean_days,
           any_value(m.value) AS median_days, any_value(t.value) AS p95_days, max(h.days) AS max_days,
           coalesce(sum(h.n) FILTER (WHERE h.days <= 1), 0) / sum(h.n) AS share_within_day
    FROM hist AS h
    JOIN quantiles AS m ON m.is_total = h.is_total AND m.source_system = h.source_system AND m.q = 0.5
    JOIN quantiles AS t ON t.is_total = h.is_total AND t.source_system = h.source_system AND t.q = 0.95
    GROUP BY h.source_system, h.is_total
)
SELECT source_system, records, mean_days, median_days, p95_days, max_days, share_within_day,
       0.95 AS tail_quantile,
       max(median_days) FILTER (WHERE is_total = 1) OVER () AS overall_median_days,
       max(share_within_day) FILTER (WHERE is_total = 1) OVER () AS overall_share_within_day,
       max(median_days) FILTER (WHERE is_total = 0) OVER () AS slowest_median_days,
       is_total
FROM per_source
ORDER BY is_total, median_days DESC, source_system
