-- title: (fragment) what optimization/lifecycle and run/lifecycle compute after their first rows
SELECT stage, recommendations,
       recommendations / sum(recommendations) OVER () AS share,
       acceptance_rate,
       acceptance_rate - overall_rate AS vs_overall,
       overall_rate,
       max(acceptance_rate) OVER () - min(acceptance_rate) OVER () AS acceptance_spread,
       max(acceptance_rate) OVER () / nullif(min(acceptance_rate) OVER (), 0) AS best_worst_ratio
FROM stages, overall
ORDER BY CASE stage WHEN 'New' THEN 1 WHEN 'Growing' THEN 2 WHEN 'Mature' THEN 3 WHEN 'At Risk' THEN 4
                    WHEN 'Dormant' THEN 5 ELSE 6 END, stage
