-- title: Recommendation status distribution
-- requires: product_recommendation_status
-- units: count=count, label=text, share=percent
SELECT coalesce(product_recommendation_status, '(missing)') AS label,
       count(*) AS count,
       count(*) / sum(count(*)) OVER () AS share
FROM {{table}}
GROUP BY ALL
ORDER BY count DESC, label
