-- title: Records without a product affinity, by core banking source system
-- requires: source_system, customer_product_affinity
-- units: missing_affinity=count, missing_affinity_rate=percent, others_missing_affinity_rate=percent, records=count, system=text
WITH systems AS (
    SELECT source_system AS system, count(*) AS records,
           count(*) FILTER (WHERE customer_product_affinity IS NULL) AS missing_affinity
    FROM {{table}}
    WHERE source_system IS NOT NULL
    GROUP BY 1
)
SELECT system, records, missing_affinity,
       missing_affinity / records AS missing_affinity_rate,
       (sum(missing_affinity) OVER () - missing_affinity) / nullif(sum(records) OVER () - records, 0)
         AS others_missing_affinity_rate
FROM systems
ORDER BY system
