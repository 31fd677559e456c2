-- title: Recommendation feedback (ratings, acceptances and declines recorded with `finmatch recommend feedback`)
-- units: customer_id=text, product_id=text, rating=count, outcome=text, day=count, recorded_at=text, model_id=text
SELECT customer_id, product_id, rating, outcome,
       CAST(date_diff('day', DATE '1970-01-01', CAST(recorded_at AS DATE)) AS INTEGER) AS day,
       CAST(recorded_at AS VARCHAR) AS recorded_at, model_id
FROM recommend_feedback
ORDER BY recorded_at, feedback_id
