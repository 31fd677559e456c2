-- title: Predictive models: one row per customer with a churn outcome (the columns of their latest record), first seen first
-- requires: customer_id, customer_churned, record_id, {{column}}
WITH per_customer AS (
    SELECT customer_id,
           CAST(bool_or(customer_churned) AS INTEGER) AS __y,
           min({{column}}) AS first_key, min(record_id) AS first_record,
           arg_max(COLUMNS(lambda c: list_contains({{features}}, c)), ({{column}}, record_id))
    FROM {{table}}
    WHERE customer_id IS NOT NULL
    GROUP BY customer_id
), ordered AS (
    SELECT CAST(row_number() OVER (ORDER BY first_key, first_record) - 1 AS BIGINT) AS __rix,
           date_diff('day', DATE '1970-01-01', TRY_CAST(first_key AS DATE)) AS __day,
           customer_id AS __row, customer_id AS __customer, * EXCLUDE (customer_id, first_key, first_record)
    FROM per_customer
    WHERE __y IS NOT NULL
)
SELECT * FROM ordered WHERE __rix % {{parts}} = {{part}} ORDER BY __rix
