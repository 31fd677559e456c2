-- title: (fragment) one margin per catalogue product, so a product listed twice cannot double a sale's revenue
catalogue AS (
    SELECT product_id, max(margin) AS margin
    FROM {{products}}
    GROUP BY product_id
)
