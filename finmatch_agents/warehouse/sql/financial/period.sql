-- title: Analysis period covered by the recommendations
-- requires: product_recommendation_date
-- units: dated_recommendations=count, first_date=date, last_date=date, period_days=count, period_years=number, recommendations=count, recommendations_per_year=number
WITH span AS (
    SELECT count(*) AS recommendations,
           count(product_recommendation_date) AS dated_recommendations,
           min(product_recommendation_date) AS first_date,
           max(product_recommendation_date) AS last_date,
           date_diff('day', min(product_recommendation_date), max(product_recommendation_date)) AS period_days
    FROM {{table}}
)
SELECT recommendations, dated_recommendations, first_date, last_date, period_days,
       period_days / 365.25 AS period_years,
       round(recommendations / nullif(period_days / 365.25, 0), 2) AS recommendations_per_year
FROM span
