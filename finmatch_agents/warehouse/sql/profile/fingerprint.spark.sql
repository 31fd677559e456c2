-- Spark SQL variant of profile/fingerprint.sql (the header is the original's). DuckDB's hash() does not exist on
-- Spark, so the hash of each row is Spark's xxhash64: the fingerprint is order-independent and changes with
-- the data as DuckDB's does, but its value is the engine's own (a fingerprint is compared on one engine only).
SELECT count(*) AS rows,
       CAST(sum(CAST(xxhash64(*) AS DECIMAL(38, 0)) + 9223372036854775808) % 18446744073709551616
            AS DECIMAL(38, 0)) AS row_hash
FROM {{table}} AS t
