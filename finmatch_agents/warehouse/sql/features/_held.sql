-- title: (fragment) the products each customer holds: distinct product_id of the accepted recommendations
f_held AS (
    SELECT customer_id,
           list(DISTINCT product_id ORDER BY product_id)
             FILTER (WHERE product_recommendation_status = {{accepted}} AND product_id IS NOT NULL) AS held
    FROM records
    GROUP BY customer_id
)
