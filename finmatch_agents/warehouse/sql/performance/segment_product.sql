-- title: Acceptance by customer segment x product type
-- run-variant: run/segment_product
-- requires: customer_segment, product_type, product_recommendation_status
-- units: acceptance_rate=percent, index_vs_overall=times, overall_rate=percent, total_recommendations=count, product_type=text, recommendations=count, segment=text, vs_overall=pp
WITH base AS (
    SELECT coalesce(customer_segment, 'Not recorded') AS segment, coalesce(product_type, 'Not recorded') AS product_type,
           CASE WHEN product_recommendation_status = {{accepted}} THEN 1.0 ELSE 0.0 END AS accepted
    FROM {{table}}
),
overall AS (SELECT avg(accepted) AS overall_rate, count(*) AS total_recommendations FROM base),
cells AS (
    SELECT segment, product_type, count(*) AS recommendations, avg(accepted) AS acceptance_rate
    FROM base
    GROUP BY segment, product_type
    HAVING count(*) >= {{min_group_size}}
)
SELECT segment, product_type, recommendations, acceptance_rate, overall_rate, total_recommendations,
       acceptance_rate - overall_rate AS vs_overall,
       acceptance_rate / nullif(overall_rate, 0) AS index_vs_overall
FROM cells, overall
ORDER BY acceptance_rate DESC, segment, product_type
