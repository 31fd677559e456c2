-- title: Acceptance by customer lifecycle stage (optimisation view) (from the run table finmatch_offers)
-- reads: finmatch_offers
-- requires: customer_lifecycle_stage, product_recommendation_status
-- units: acceptance_rate=percent, acceptance_spread=percent, best_worst_ratio=times, overall_rate=percent, recommendations=count, share=percent, stage=text, vs_overall=pp
WITH stages AS (
    SELECT coalesce(customer_lifecycle_stage, 'Not recorded') AS stage,
           CAST(sum(records) AS BIGINT) AS recommendations,
           coalesce(sum(records) FILTER (WHERE product_recommendation_status = {{accepted}}), 0) / sum(records)
             AS acceptance_rate
    FROM finmatch_offers
    GROUP BY 1
    HAVING sum(records) >= {{min_group_size}}
),
overall AS (
    SELECT coalesce(sum(records) FILTER (WHERE product_recommendation_status = {{accepted}}), 0)
             / nullif(sum(records), 0) AS overall_rate
    FROM finmatch_offers
)
{{> optimization/_lifecycle_tail}}
