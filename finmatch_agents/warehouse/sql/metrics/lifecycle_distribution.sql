-- title: Customer lifecycle stage distribution (customers)
-- requires: customer_id, customer_lifecycle_stage
-- units: count=count, label=text, share=percent
WITH counts AS (
    SELECT coalesce(customer_lifecycle_stage, '(missing)') AS label, count(DISTINCT customer_id) AS count
    FROM {{table}}
    GROUP BY 1
)
SELECT label, count, count / sum(count) OVER () AS share
FROM counts
ORDER BY CASE label WHEN 'New' THEN 1 WHEN 'Growing' THEN 2 WHEN 'Mature' THEN 3 WHEN 'At Risk' THEN 4
                    WHEN 'Dormant' THEN 5 ELSE 6 END, label
