-- title: (fragment) what optimization/low_affinity and run/low_affinity compute after their first rows
totals AS (
    SELECT sum(recommendations) AS total, sum(accepted) AS total_accepted,
           sum(recommendations) FILTER (WHERE affinity = 'Low') AS low_recommendations,
           sum(accepted) FILTER (WHERE affinity = 'Low') AS low_accepted,
           sum(recommendations) FILTER (WHERE affinity IN ('Medium', 'High')) AS medium_high_recommendations,
           sum(accepted) FILTER (WHERE affinity IN ('Medium', 'High')) AS medium_high_accepted
    FROM levels
)
SELECT affinity, recommendations,
       recommendations / total AS share,
       accepted,
       accepted / recommendations AS acceptance_rate,
       recommendations - accepted AS not_accepted,
       (recommendations - accepted) * CAST({{cost_per_recommendation}} AS DOUBLE) AS not_accepted_cost,
       CAST({{cost_per_recommendation}} AS DOUBLE) AS cost_per_recommendation,
       low_recommendations,
       low_recommendations / total AS low_share,
       low_accepted / nullif(low_recommendations, 0) AS low_acceptance_rate,
       medium_high_accepted / nullif(medium_high_recommendations, 0) AS medium_high_acceptance_rate,
       medium_high_accepted / nullif(medium_high_recommendations, 0)
         - low_accepted / nullif(low_recommendations, 0) AS medium_high_low_gap,
       (medium_high_accepted / nullif(medium_high_recommendations, 0))
         / nullif(low_accepted / nullif(low_recommendations, 0), 0) AS medium_high_low_ratio,
       low_recommendations - low_accepted AS low_not_accepted,
       (low_recommendations - low_accepted) * CAST({{cost_per_recommendation}} AS DOUBLE) AS low_not_accepted_cost,
       low_accepted AS low_accepted,
       low_accepted / nullif(total_accepted, 0) AS low_share_of_accepted
FROM levels, totals
ORDER BY CASE affinity WHEN 'High' THEN 1 WHEN 'Medium' THEN 2 WHEN 'Low' THEN 3 ELSE 4 END, affinity
