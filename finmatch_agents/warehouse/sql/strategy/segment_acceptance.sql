-- title: Segment roles from acceptance only (churn probability absent)
-- requires: customer_id, customer_segment, product_recommendation_status
-- units: all_recommendations=count, segment=text, role=text, customers=count, customer_share=percent, recommendations=count, acceptance_rate=percent, overall_acceptance=percent, acceptance_vs_overall=pp
WITH base AS (
    SELECT customer_id, coalesce(customer_segment, 'Not recorded') AS segment,
           CASE WHEN product_recommendation_status = {{accepted}} THEN 1.0 ELSE 0.0 END AS accepted
    FROM {{table}}
),
overall AS (SELECT avg(accepted) AS overall_acceptance, count(DISTINCT customer_id) AS all_customers,
                   count(*) AS all_recommendations FROM base),
segments AS (
    SELECT segment, count(DISTINCT customer_id) AS customers, count(*) AS recommendations,
           avg(accepted) AS acceptance_rate
    FROM base
    GROUP BY segment
    HAVING count(*) >= {{min_group_size}}
)
SELECT segment,
       CASE WHEN acceptance_rate >= overall_acceptance THEN 'Grow' ELSE 'Nurture' END AS role,
       customers, customers / all_customers AS customer_share, recommendations, acceptance_rate, all_recommendations,
       overall_acceptance, acceptance_rate - overall_acceptance AS acceptance_vs_overall
FROM segments, overall
ORDER BY CASE WHEN acceptance_rate >= overall_acceptance THEN 1 ELSE 2 END, acceptance_rate DESC, segment
