-- title: (fragment) stated interests: the distinct interest texts of the customer's records, joined
f_interests AS (
    SELECT customer_id,
           string_agg(DISTINCT customer_product_interests, ', ' ORDER BY customer_product_interests) AS interests
    FROM records
    WHERE customer_product_interests IS NOT NULL
    GROUP BY customer_id
)
