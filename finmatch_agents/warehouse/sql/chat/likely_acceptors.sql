-- title: Open offers most likely to be accepted, for one product type (the conversion model's scores, highest first)
-- requires: scores.task, scores.customer_id, scores.record_id, scores.product_id, scores.product_type, scores.score, scores.model_id
-- units: customer_id=text, record_id=text, product_id=text, acceptance_score=percent, model_id=text, scored_offers=count, expected_acceptances=number
WITH offers AS (
    SELECT customer_id, record_id, product_id, score, model_id FROM scores
    WHERE task = 'conversion' AND score IS NOT NULL AND ({{product_type}} IS NULL OR product_type = {{product_type}})
)
SELECT customer_id, record_id, product_id, score AS acceptance_score, model_id,
       count(*) OVER () AS scored_offers, sum(score) OVER () AS expected_acceptances
FROM offers
ORDER BY score DESC, record_id
LIMIT {{top}}
