-- title: (fragment) every customer with a dated offer, one index per customer in customer_id order
customers AS (
    SELECT customer_id, CAST(row_number() OVER (ORDER BY customer_id) - 1 AS INTEGER) AS cix
    FROM (SELECT DISTINCT customer_id FROM {{table}}
          WHERE customer_id IS NOT NULL AND product_id IS NOT NULL
            AND TRY_CAST(product_recommendation_date AS DATE) IS NOT NULL) AS d
)
