-- title: One customer's latest recommendation feedback per product (an acceptance or decline since training)
-- units: product_id=text, rating=count, outcome=text
SELECT product_id, arg_max(rating, feedback_id) AS rating, arg_max(outcome, feedback_id) AS outcome
FROM recommend_feedback
WHERE customer_id = {{customer}}
GROUP BY product_id
ORDER BY product_id
