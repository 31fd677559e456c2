-- title: Product affinity distribution
-- requires: customer_product_affinity
-- units: count=count, label=text, share=percent
WITH counts AS (
    SELECT coalesce(customer_product_affinity, '(missing)') AS label, count(*) AS count
    FROM {{table}}
    GROUP BY 1
)
SELECT label, count, count / sum(count) OVER () AS share
FROM counts
ORDER BY CASE label WHEN 'High' THEN 1 WHEN 'Medium' THEN 2 WHEN 'Low' THEN 3 ELSE 4 END, label
