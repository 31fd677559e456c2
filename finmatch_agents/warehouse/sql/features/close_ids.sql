-- title: Customer ids closest to the one asked for
-- requires: customer_id
WITH ids AS (
    SELECT DISTINCT customer_id FROM {{table}} WHERE customer_id IS NOT NULL
)
SELECT customer_id, jaro_winkler_similarity(customer_id, {{customer}}) AS similarity
FROM ids
ORDER BY similarity DESC, customer_id
LIMIT 3
