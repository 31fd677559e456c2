-- title: Backtest baseline: the bank's own recommendation score of each offer in the test window
-- requires: customer_id, product_id, recommendation_score, product_recommendation_date
WITH {{> features/_records}},
test AS (
    SELECT customer_id, product_id, max(recommendation_score) AS score
    FROM {{table}}
    WHERE customer_id IS NOT NULL AND product_id IS NOT NULL AND recommendation_score IS NOT NULL
      AND product_recommendation_date >= {{as_of}}
    GROUP BY customer_id, product_id
)
SELECT c.cix, t.product_id, t.score
FROM test AS t
JOIN customers AS c USING (customer_id)
WHERE c.cix % {{parts}} = {{part}}
ORDER BY c.cix, t.score DESC, t.product_id
