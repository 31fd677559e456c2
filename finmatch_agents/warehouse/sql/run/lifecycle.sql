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
SELECT stage, recommendations,
       recommendations / sum(recommendations) OVER () AS share,
       acceptance_rate,
       acceptance_rate - overall_rate AS vs_overall,
       overall_rate,
       max(acceptance_rate) OVER () - min(acceptance_rate) OVER () AS acceptance_spread,
       max(acceptance_rate) OVER () / nullif(min(acceptance_rate) OVER (), 0) AS best_worst_ratio
FROM stages, overall
ORDER BY CASE stage WHEN 'New' THEN 1 WHEN 'Growing' THEN 2 WHEN 'Mature' THEN 3 WHEN 'At Risk' THEN 4
                    WHEN 'Dormant' THEN 5 ELSE 6 END, stage
