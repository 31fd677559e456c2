-- title: (fragment) Value bins: at most {{bins}} groups of `base.value`, cut only at value boundaries
bin_values AS (
    -- one row per distinct value: its records and acceptances (queries aggregate from here, not from every row)
    SELECT value, count(*) AS n, sum(accepted) AS accepted FROM base WHERE value IS NOT NULL GROUP BY value
),
bin_cuts AS (
    SELECT value, n, accepted,
           coalesce(sum(n) OVER (ORDER BY value ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before,
           sum(n) OVER () AS total, count(*) OVER () AS distinct_values,
           row_number() OVER (ORDER BY value) AS value_rank
    FROM bin_values
),
value_bins AS (
    -- few distinct values: one group per value; otherwise a value starts the group its preceding share falls
    -- in, so equal values always share a group (never split by row order)
    SELECT value, n, accepted, distinct_values <= {{bins}} AS by_value,
           dense_rank() OVER (ORDER BY CASE WHEN distinct_values <= {{bins}} THEN value_rank
                                            ELSE least({{bins}}, 1 + floor(before * {{bins}} / total)) END) AS bin
    FROM bin_cuts
)
