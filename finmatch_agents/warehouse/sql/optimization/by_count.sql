-- title: Acceptance by {{count_label}} (at most {{bins}} groups cut at count values, ties kept together), with the correlation of the count and acceptance
-- requires: {{count_column}}, product_recommendation_status
-- units: all_recommendations=count, acceptance_rate=percent, acceptance_spread=pp, avg_count=count, bottom_group_rate=percent, by_value=text, correlation=score, distinct_counts=count, groups=count, max_count=count, min_count=count, grp=count, recommendations=count, records=count, top_bottom_gap=pp, top_group_rate=percent
WITH base AS (
    SELECT {{count_column}} AS value,
           CASE WHEN product_recommendation_status = {{accepted}} THEN 1.0 ELSE 0.0 END AS accepted
    FROM {{table}}
    WHERE {{count_column}} IS NOT NULL
),
{{> common/_value_bins}},
overall AS (
    SELECT corr(value, accepted) AS correlation, count(*) AS records, count(DISTINCT value) AS distinct_counts,
           (SELECT count(*) FROM {{table}}) AS all_recommendations
    FROM base
),
grps AS (
    SELECT v.bin AS grp, count(*) AS recommendations, min(b.value) AS min_count,
           max(b.value) AS max_count, avg(b.value) AS avg_count, avg(b.accepted) AS acceptance_rate,
           bool_and(v.by_value) AS by_value
    FROM base AS b
    JOIN value_bins AS v USING (value)
    GROUP BY v.bin
)
SELECT grp, recommendations, min_count, max_count, avg_count, acceptance_rate,
       correlation, records, all_recommendations, distinct_counts, count(*) OVER () AS groups, by_value,
       max(acceptance_rate) FILTER (WHERE grp = groups_max) OVER () AS top_group_rate,
       max(acceptance_rate) FILTER (WHERE grp = 1) OVER () AS bottom_group_rate,
       max(acceptance_rate) FILTER (WHERE grp = groups_max) OVER ()
         - max(acceptance_rate) FILTER (WHERE grp = 1) OVER () AS top_bottom_gap,
       max(acceptance_rate) OVER () - min(acceptance_rate) OVER () AS acceptance_spread
FROM (SELECT *, max(grp) OVER () AS groups_max FROM grps) AS q, overall
ORDER BY grp
