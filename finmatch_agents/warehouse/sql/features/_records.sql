-- title: (fragment) the records customer features read, one index per customer, and the customers asked for
population AS (
    -- every customer's records (before the cut-off, when one is given): percentiles rank against these
    SELECT * FROM {{table}} AS r
    WHERE r.customer_id IS NOT NULL
      AND ({{as_of}} IS NULL OR TRY_CAST(r.{{column}} AS DATE) < {{as_of}})
),
records AS (
    -- the records of the customers asked for (all of them unless a list is given)
    SELECT * FROM population
    WHERE {{customers}} IS NULL OR list_contains({{customers}}, customer_id)
),
customers AS (
    SELECT customer_id, CAST(row_number() OVER (ORDER BY customer_id) - 1 AS INTEGER) AS cix
    FROM (SELECT DISTINCT customer_id FROM records) AS d
),
scope AS (
    SELECT customer_id, cix FROM customers WHERE cix % {{parts}} = {{part}}
)
