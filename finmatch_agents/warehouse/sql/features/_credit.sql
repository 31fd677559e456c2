-- title: (fragment) credit score and its credit-management score
f_credit AS (
    SELECT customer_id, credit_score, least(greatest((credit_score - 300) / 550.0, 0), 1) AS credit_score_score
    FROM (SELECT customer_id, avg(credit_score) AS credit_score FROM records GROUP BY customer_id) AS a
)
