-- title: Data fingerprint (order-independent hash of all rows)
-- units: row_hash=number, rows=count
SELECT count(*) AS rows,
       sum(hash(t)::HUGEINT) % 18446744073709551616 AS row_hash
FROM {{table}} AS t
