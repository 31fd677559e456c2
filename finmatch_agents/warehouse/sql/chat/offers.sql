-- title: {{status}} recommendations in the latest {{period}} of the data
-- requires: product_recommendation_status, product_recommendation_date, product_type, record_id, customer_id
-- units: customer_id=text, period_last_day=date, period_start=date, product_type=text, recommended_on=date, record_id=text, total_matching=count
WITH bounds AS (
    SELECT CAST(date_trunc({{period}}, max(product_recommendation_date)) AS DATE) AS period_start,
           CAST(date_trunc({{period}}, max(product_recommendation_date))
             + CASE {{period}} WHEN 'year' THEN INTERVAL 1 YEAR WHEN 'quarter' THEN INTERVAL 3 MONTH
                               ELSE INTERVAL 1 MONTH END AS DATE) AS period_end
    FROM {{table}}
),
matching AS (
    SELECT r.record_id, r.customer_id, r.product_type, r.product_recommendation_date AS recommended_on
    FROM {{table}} AS r, bounds AS b
    WHERE r.product_recommendation_status = {{status}}
      AND ({{product_type}} IS NULL OR r.product_type = {{product_type}})
      AND r.product_recommendation_date >= b.period_start AND r.product_recommendation_date < b.period_end
)
SELECT m.record_id, m.customer_id, m.product_type, m.recommended_on, b.period_start,
       b.period_end - 1 AS period_last_day, count(m.record_id) OVER () AS total_matching
FROM bounds AS b LEFT JOIN matching AS m ON true
ORDER BY m.recommended_on DESC NULLS LAST, m.record_id
LIMIT 50
