-- title: Predictive models: open offers (Pending or In Progress) with the model's input columns, to score
-- requires: product_recommendation_status, record_id, customer_id, product_id, product_type, {{column}}
WITH offers AS (
    SELECT epoch_ms(TRY_CAST({{column}} AS TIMESTAMP)) AS __key,
           CAST(NULL AS INTEGER) AS __y,
           date_diff('day', DATE '1970-01-01', TRY_CAST({{column}} AS DATE)) AS __day,
           record_id AS __row, customer_id AS __customer, product_id AS __product,
           product_type AS __type,
           COLUMNS(lambda c: list_contains({{features}}, c))
    FROM {{table}}
    WHERE (product_recommendation_status IN ({{pending}}, {{in_progress}}) OR {{every_offer}})
      AND ({{customers}} IS NULL OR list_contains({{customers}}, customer_id))
)
SELECT * FROM offers WHERE hash(__row) % {{parts}} = {{part}}
