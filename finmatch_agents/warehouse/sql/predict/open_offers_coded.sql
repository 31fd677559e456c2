-- title: Predictive models: open offers (Pending or In Progress) with the model's inputs encoded in SQL, to score in a batch
-- requires: product_recommendation_status, record_id, customer_id, product_id, product_type, {{column}}
WITH offers AS (
    SELECT epoch_ms(TRY_CAST({{column}} AS TIMESTAMP)) AS __key,
           CAST(NULL AS INTEGER) AS __y,
           date_diff('day', DATE '1970-01-01', TRY_CAST({{column}} AS DATE)) AS __day,
           record_id AS __row, customer_id AS __customer, product_id AS __product,
           product_type AS __type, CAST(NULL AS DOUBLE) AS __none_number, CAST(NULL AS VARCHAR) AS __none_text, *
    FROM {{table}}
    WHERE (product_recommendation_status IN ({{pending}}, {{in_progress}}) OR {{every_offer}})
      AND ({{customers}} IS NULL OR list_contains({{customers}}, customer_id))
)
-- Numbers come as they are. A text input comes as its 1-based position in the vocabulary (every category
-- the model learnt, of all its text inputs, sorted), 0 when the value is missing or not in it; Python maps
-- each position to the input's own category index (NaN for a category that input did not learn), so no
-- text value of an input crosses into Python. __none_number and __none_text keep each COLUMNS list
-- non-empty (a model without numeric or without text inputs); they are NULL and not used.
SELECT __key, __y, __day, __row, __customer, __product, __type,
       COLUMNS(lambda c: list_contains({{numbers}} || ['__none_number'], c)),
       coalesce(list_position({{vocabulary}},
                              CAST(COLUMNS(lambda c: list_contains({{texts}} || ['__none_text'], c)) AS VARCHAR)), 0)
FROM offers
WHERE hash(__row) % {{parts}} = {{part}}
