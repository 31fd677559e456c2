-- title: Freshness by source system (newest recommendation date)
-- requires: source_system, product_recommendation_date
-- units: lag_days=count, newest=date, source_system=text
WITH per_source AS (
    SELECT source_system, max(product_recommendation_date) AS newest
    FROM {{table}}
    GROUP BY source_system
)
SELECT source_system,
       newest,
       date_diff('day', newest, max(newest) OVER ()) AS lag_days
FROM per_source
ORDER BY source_system
