-- title: Segment roles from acceptance and churn (Grow, Defend, Nurture)
-- run-variant: run/segment_roles
-- requires: customer_id, customer_segment, product_recommendation_status, customer_churn_probability
-- units: sd_churn=percent, overall_sd_churn=percent, all_recommendations=count, all_customers=count, acceptance_rate=percent, acceptance_spread=pp, acceptance_vs_overall=pp, avg_churn=percent, churn_index=times, churn_spread=pp, churn_vs_overall=pp, customer_share=percent, customers=count, high_churn_threshold=percent, overall_acceptance=percent, overall_churn=percent, recommendations=count, role=text, segment=text, share_high_risk=percent
WITH base AS (
    SELECT customer_id, coalesce(customer_segment, 'Not recorded') AS segment, customer_churn_probability AS churn,
           CASE WHEN product_recommendation_status = {{accepted}} THEN 1.0 ELSE 0.0 END AS accepted
    FROM {{table}}
),
per_customer AS (
    SELECT customer_id, segment, avg(churn) AS churn
    FROM base
    GROUP BY customer_id, segment
),
overall AS (
    SELECT (SELECT avg(accepted) FROM base) AS overall_acceptance,
           (SELECT avg(churn) FROM per_customer) AS overall_churn,
           (SELECT stddev_samp(churn) FROM per_customer) AS overall_sd_churn,
           (SELECT count(*) FROM base) AS all_recommendations,
           (SELECT count(*) FROM per_customer) AS all_customers
),
segments AS (
    SELECT b.segment, count(*) AS recommendations, avg(b.accepted) AS acceptance_rate
    FROM base b
    GROUP BY b.segment
    HAVING count(*) >= {{min_group_size}}
),
{{> strategy/_segment_roles_tail}}
