-- title: (fragment) what performance/affinity and run/affinity compute after their first rows
SELECT affinity, recommendations,
       recommendations / sum(recommendations) OVER () AS share,
       acceptance_rate,
       max(acceptance_rate) FILTER (WHERE affinity = 'High') OVER ()
         / nullif(max(acceptance_rate) FILTER (WHERE affinity = 'Low') OVER (), 0) AS high_low_ratio
FROM levels
ORDER BY CASE affinity WHEN 'High' THEN 1 WHEN 'Medium' THEN 2 WHEN 'Low' THEN 3 ELSE 4 END, affinity
