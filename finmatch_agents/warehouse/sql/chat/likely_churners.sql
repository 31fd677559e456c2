-- title: Customers most likely to churn (the churn model's scores in the scores table, highest first)
-- requires: scores.task, scores.customer_id, scores.score, scores.model_id, scores.score_run_id
-- units: customer_id=text, churn_score=percent, model_id=text, score_run_id=text, scored_customers=count, above_half=count
WITH churn AS (
    SELECT customer_id, score, model_id, score_run_id FROM scores WHERE task = 'churn' AND score IS NOT NULL
)
SELECT customer_id, score AS churn_score, model_id, score_run_id,
       count(*) OVER () AS scored_customers,
       count(*) FILTER (WHERE score >= 0.5) OVER () AS above_half
FROM churn
ORDER BY score DESC, customer_id
LIMIT {{top}}
