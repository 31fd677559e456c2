-- title: Backtest calendar: first and last recommendation date and the default cut-off (share of records before it)
-- requires: product_recommendation_date
SELECT min(product_recommendation_date) AS first_date,
       max(product_recommendation_date) AS last_date,
       quantile_disc(product_recommendation_date, {{train_share}}) AS cutoff,
       count(product_recommendation_date) AS dated_records,
       CAST({{train_share}} AS DOUBLE) AS train_share
FROM {{table}}
