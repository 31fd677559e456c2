-- title: Acceptance by customer segment x product type (from the run table finmatch_offers)
-- reads: finmatch_offers
-- requires: customer_segment, product_type, product_recommendation_status
-- units: acceptance_rate=percent, index_vs_overall=times, overall_rate=percent, total_recommendations=count, product_type=text, recommendations=count, segment=text, vs_overall=pp
WITH base AS (
    SELECT coalesce(customer_segment, 'Not recorded') AS segment, coalesce(product_type, 'Not recorded') AS product_type,
           records, CASE WHEN product_recommendation_status = {{accepted}} THEN records ELSE 0 END AS accepted
    FROM finmatch_offers
),
overall AS (
    SELECT sum(accepted) / nullif(sum(records), 0) AS overall_rate, CAST(sum(records) AS BIGINT) AS total_recommendations
    FROM base
),
cells AS (
    SELECT segment, product_type, CAST(sum(records) AS BIGINT) AS recommendations,
           sum(accepted) / sum(records) AS acceptance_rate
    FROM base
    GROUP BY segment, product_type
    HAVING sum(records) >= {{min_group_size}}
)
SELECT segment, product_type, recommendations, acceptance_rate, overall_rate, total_recommendations,
       acceptance_rate - overall_rate AS vs_overall,
       acceptance_rate / nullif(overall_rate, 0) AS index_vs_overall
FROM cells, overall
ORDER BY acceptance_rate DESC, segment, product_type
