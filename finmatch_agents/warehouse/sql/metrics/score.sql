-- title: Average recommendation score
-- requires: recommendation_score
-- units: avg_recommendation_score=score, median_recommendation_score=score, scored_recommendations=count
SELECT avg(recommendation_score) AS avg_recommendation_score,
       median(recommendation_score) AS median_recommendation_score,
       count(recommendation_score) AS scored_recommendations
FROM {{table}}
