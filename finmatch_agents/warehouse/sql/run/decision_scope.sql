-- title: Optimisation scope: decided and undecided recommendations (from the run table finmatch_offers)
-- reads: finmatch_offers
-- requires: product_recommendation_status
-- units: accepted=count, decided=count, decided_acceptance_rate=percent, decided_share=percent, decision=text, declined=count, other_status=count, recommendations=count, share=percent, status=text, total=count, undecided=count, undecided_share=percent
WITH per_status AS (
    SELECT coalesce(product_recommendation_status, '(missing)') AS status,
           CASE WHEN product_recommendation_status IN ({{accepted}}, {{declined}}) THEN 'Decided'
                WHEN product_recommendation_status IN ({{pending}}, {{in_progress}}) THEN 'Undecided'
                ELSE 'Other' END AS decision,
           CAST(sum(records) AS BIGINT) AS recommendations
    FROM finmatch_offers
    GROUP BY 1, 2
),
{{> optimization/_decision_scope_tail}}
