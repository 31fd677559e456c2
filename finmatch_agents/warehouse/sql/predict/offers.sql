-- title: Predictive models: decided offers (Accepted or Declined) with the model's input columns, oldest first
-- requires: product_recommendation_status, record_id, {{column}}
WITH offers AS (
    SELECT epoch_ms(TRY_CAST({{column}} AS TIMESTAMP)) AS __key,
           CAST(product_recommendation_status = {{accepted}} AS INTEGER) AS __y,
           date_diff('day', DATE '1970-01-01', TRY_CAST({{column}} AS DATE)) AS __day,
           record_id AS __row,
           COLUMNS(lambda c: list_contains({{features}}, c))
    FROM {{table}}
    WHERE product_recommendation_status IN ({{accepted}}, {{declined}})
)
SELECT * FROM offers WHERE hash(__row) % {{parts}} = {{part}}
