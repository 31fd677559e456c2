-- title: Backtest test window: offers made on or after the cut-off, with the customer's index in the training window
-- requires: customer_id, product_id, product_recommendation_status, product_recommendation_date
WITH {{> features/_records}},
test AS (
    SELECT customer_id, product_id, product_recommendation_status AS status
    FROM {{table}}
    WHERE customer_id IS NOT NULL AND product_recommendation_date >= {{as_of}}
)
SELECT c.cix, t.product_id,
       t.status = {{accepted}} AS accepted,
       t.status IN ({{accepted}}, {{declined}}) AS decided
FROM test AS t
LEFT JOIN customers AS c USING (customer_id)
WHERE c.cix % {{parts}} = {{part}} OR (c.cix IS NULL AND {{part}} = 0)
ORDER BY c.cix NULLS LAST, t.product_id, t.status
