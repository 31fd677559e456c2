-- title: Predictive models: one row per customer to score (the columns of their latest record)
-- requires: customer_id, record_id, {{column}}
WITH per_customer AS (
    SELECT customer_id,
           min({{column}}) AS first_key, min(record_id) AS first_record,
           arg_max(COLUMNS(lambda c: list_contains({{features}}, c)), ({{column}}, record_id))
    FROM {{table}}
    WHERE customer_id IS NOT NULL
      AND ({{customers}} IS NULL OR list_contains({{customers}}, customer_id))
    GROUP BY customer_id
), ordered AS (
    SELECT CAST(row_number() OVER (ORDER BY customer_id) - 1 AS BIGINT) AS __rix,
           CAST(NULL AS INTEGER) AS __y,
           date_diff('day', DATE '1970-01-01', TRY_CAST(first_key AS DATE)) AS __day,
           customer_id AS __row, customer_id AS __customer, * EXCLUDE (customer_id, first_key, first_record)
    FROM per_customer
)
SELECT * FROM ordered WHERE __rix % {{parts}} = {{part}} ORDER BY __rix
