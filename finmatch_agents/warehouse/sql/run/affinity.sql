-- title: Acceptance by customer product affinity (from the run table finmatch_offers)
-- reads: finmatch_offers
-- requires: customer_product_affinity, product_recommendation_status
-- units: acceptance_rate=percent, affinity=text, high_low_ratio=times, recommendations=count, share=percent
WITH levels AS (
    SELECT coalesce(customer_product_affinity, 'Not recorded') AS affinity,
           CAST(sum(records) AS BIGINT) AS recommendations,
           coalesce(sum(records) FILTER (WHERE product_recommendation_status = {{accepted}}), 0) / sum(records)
             AS acceptance_rate
    FROM finmatch_offers
    GROUP BY 1
)
{{> performance/_affinity_tail}}
