-- title: (fragment) what optimization/decision_scope and run/decision_scope compute after their first rows
totals AS (
    SELECT sum(recommendations) AS total,
           coalesce(sum(recommendations) FILTER (WHERE decision = 'Decided'), 0) AS decided,
           coalesce(sum(recommendations) FILTER (WHERE decision = 'Undecided'), 0) AS undecided,
           coalesce(sum(recommendations) FILTER (WHERE decision = 'Other'), 0) AS other_status,
           coalesce(sum(recommendations) FILTER (WHERE status = {{accepted}}), 0) AS accepted,
           coalesce(sum(recommendations) FILTER (WHERE status = {{declined}}), 0) AS declined
    FROM per_status
)
SELECT decision, status, recommendations,
       recommendations / nullif(total, 0) AS share,
       total, decided, undecided, other_status, accepted, declined,
       decided / nullif(total, 0) AS decided_share,
       undecided / nullif(total, 0) AS undecided_share,
       accepted / nullif(decided, 0) AS decided_acceptance_rate
FROM per_status, totals
ORDER BY CASE decision WHEN 'Decided' THEN 1 WHEN 'Undecided' THEN 2 ELSE 3 END, recommendations DESC, status
