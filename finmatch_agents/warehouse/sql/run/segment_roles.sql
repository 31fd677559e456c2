-- title: Segment roles from acceptance and churn (Grow, Defend, Nurture) (from the run table finmatch_customers)
-- reads: finmatch_customers
-- run-check: run/customers_check
-- requires: customer_id, customer_segment, product_recommendation_status, customer_churn_probability
-- units: sd_churn=percent, overall_sd_churn=percent, all_recommendations=count, all_customers=count, acceptance_rate=percent, acceptance_spread=pp, acceptance_vs_overall=pp, avg_churn=percent, churn_index=times, churn_spread=pp, churn_vs_overall=pp, customer_share=percent, customers=count, high_churn_threshold=percent, overall_acceptance=percent, overall_churn=percent, recommendations=count, role=text, segment=text, share_high_risk=percent
WITH base AS (
    SELECT customer_id, coalesce(segment, 'Not recorded') AS segment, records, accepted_records, churn
    FROM finmatch_customers
),
per_customer AS (
    SELECT customer_id, segment, churn
    FROM base
),
overall AS (
    SELECT (SELECT sum(accepted_records) / sum(records) FROM base) AS overall_acceptance,
           (SELECT avg(churn) FROM per_customer) AS overall_churn,
           (SELECT stddev_samp(churn) FROM per_customer) AS overall_sd_churn,
           (SELECT CAST(sum(records) AS BIGINT) FROM base) AS all_recommendations,
           (SELECT count(*) FROM per_customer) AS all_customers
),
segments AS (
    SELECT b.segment, CAST(sum(b.records) AS BIGINT) AS recommendations,
           sum(b.accepted_records) / sum(b.records) AS acceptance_rate
    FROM base b
    GROUP BY b.segment
    HAVING sum(b.records) >= {{min_group_size}}
),
{{> strategy/_segment_roles_tail}}
