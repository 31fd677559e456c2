-- title: (fragment) the product types of the records, one index each (needs the records CTE)
types AS (
    SELECT product_type, CAST(row_number() OVER (ORDER BY product_type) - 1 AS INTEGER) AS tix
    FROM (SELECT DISTINCT product_type FROM records WHERE product_type IS NOT NULL) AS d
)
