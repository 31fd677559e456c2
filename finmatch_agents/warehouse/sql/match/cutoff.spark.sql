-- Spark SQL variant of match/cutoff.sql (the header is the original's). Spark's percentile_disc ranks numbers
-- only, so the dates are ranked by their day number and turned back into a date; both engines pick the value
-- at position ceil(n * share) of the sorted dates.
SELECT min(product_recommendation_date) AS first_date,
       max(product_recommendation_date) AS last_date,
       date_from_unix_date(percentile_disc({{train_share}}) WITHIN GROUP (
           ORDER BY unix_date(CAST(product_recommendation_date AS DATE)))) AS cutoff,
       count(product_recommendation_date) AS dated_records,
       CAST({{train_share}} AS DOUBLE) AS train_share
FROM {{table}}
