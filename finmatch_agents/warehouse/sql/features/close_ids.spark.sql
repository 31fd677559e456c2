-- Spark SQL variant of features/close_ids.sql (the header is the original's). Spark has no
-- jaro_winkler_similarity, so the same similarity is computed here with array functions, as DuckDB computes
-- it: characters match greedily within max(length)/2 - 1 positions, transpositions are half the matched
-- characters out of order (a whole number), and the common prefix (up to 4) adds 0.1 of the rest when the
-- Jaro similarity is above 0.7. Strings are compared on their first 128 characters (customer ids are shorter).
WITH ids AS (
    SELECT DISTINCT customer_id FROM {{table}} WHERE customer_id IS NOT NULL
), sized AS (
    SELECT customer_id, customer_id AS s1, {{customer}} AS s2,
           length(customer_id) AS l1, length({{customer}}) AS l2,
           greatest(CAST(greatest(length(customer_id), length({{customer}})) DIV 2 AS INT) - 1, 0) AS w
    FROM ids
), matched AS (
    SELECT customer_id, s1, s2, l1, l2,
           aggregate(slice(sequence(1, 128), 1, greatest(l1, 1)),
                     named_struct('used', array_repeat(false, greatest(l2, 1)), 'm1', CAST(array() AS ARRAY<STRING>)),
                     (acc, i) -> named_struct(
                         'used', transform(acc.used, (u, k) -> u OR k + 1 = array_position(transform(
                             slice(sequence(1, 128), 1, greatest(l2, 1)), j -> j >= i - w AND j <= i + w AND NOT acc.used[j - 1]
                             AND substr(s2, j, 1) = substr(s1, i, 1)), true)),
                         'm1', IF(array_position(transform(
                             slice(sequence(1, 128), 1, greatest(l2, 1)), j -> j >= i - w AND j <= i + w AND NOT acc.used[j - 1]
                             AND substr(s2, j, 1) = substr(s1, i, 1)), true) > 0,
                             concat(acc.m1, array(substr(s1, i, 1))), acc.m1))) AS st
    FROM sized
), counted AS (
    SELECT customer_id, s1, s2, l1, l2, size(st.m1) AS m, st.m1 AS m1,
           filter(transform(slice(sequence(1, 128), 1, greatest(l2, 1)), j -> IF(st.used[j - 1], substr(s2, j, 1), NULL)),
                  x -> x IS NOT NULL) AS m2
    FROM matched
), jaro AS (
    SELECT customer_id, s1, s2, l1, l2,
           CASE WHEN l1 = 0 OR l2 = 0 OR m = 0 THEN 0.0D
                ELSE (CAST(m AS DOUBLE) / l1 + CAST(m AS DOUBLE) / l2
                      + CAST(m - size(filter(slice(sequence(1, 128), 1, m), k -> try_element_at(m1, k) != try_element_at(m2, k)))
                             DIV 2 AS DOUBLE) / m) / 3.0D END AS sim,
           CASE WHEN least(4, l1, l2) = 0 THEN 0
                ELSE aggregate(slice(sequence(1, 128), 1, greatest(least(4, l1, l2), 1)), named_struct('n', 0, 'go', true),
                               (a, k) -> IF(a.go AND substr(s1, k, 1) = substr(s2, k, 1),
                                            named_struct('n', a.n + 1, 'go', true),
                                            named_struct('n', a.n, 'go', false))).n END AS prefix
    FROM counted
)
SELECT customer_id,
       CASE WHEN sim > 0.7D THEN sim + prefix * 0.1D * (1.0D - sim) ELSE sim END AS similarity
FROM jaro
ORDER BY similarity DESC, customer_id
LIMIT 3
