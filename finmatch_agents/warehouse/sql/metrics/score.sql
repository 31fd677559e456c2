-- title: Average recommendation score
-- requires: recommendation_score
SELECT avg(recommendation_score) AS avg_recommendation_score,
       median(recommendation_score) AS median_recommendation_score,
       count(recommendation_score) AS scored_recommendations
FROM {{table}}
