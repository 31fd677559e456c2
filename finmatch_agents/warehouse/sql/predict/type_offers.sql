-- title: Predictive models: each customer's latest offer of each product type (the offer columns a new offer of that type would carry)
-- requires: customer_id, product_type, record_id, {{column}}
WITH latest AS (
    SELECT customer_id, product_type,
           arg_max(COLUMNS(lambda c: list_contains({{features}}, c)), ({{column}}, record_id))
    FROM {{table}}
    WHERE customer_id IS NOT NULL AND product_type IS NOT NULL
      AND ({{customers}} IS NULL OR list_contains({{customers}}, customer_id))
    GROUP BY customer_id, product_type
)
SELECT * FROM latest ORDER BY customer_id, product_type
