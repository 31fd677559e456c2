-- title: (fragment) _records for a few customers: the book is read where a percentile needs it, their records once
population AS NOT MATERIALIZED (
    -- every customer's records (before the cut-off, when one is given): percentiles rank against these
    SELECT * FROM {{table}} AS r
    WHERE r.customer_id IS NOT NULL
      AND ({{as_of}} IS NULL OR TRY_CAST(r.{{column}} AS DATE) < {{as_of}})
),
records AS MATERIALIZED (
    -- the records of the customers asked for (a short list: these few rows are kept, not the book)
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
