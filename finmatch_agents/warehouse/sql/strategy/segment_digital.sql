-- title: Digital adoption and digital versus assisted acceptance by customer segment
-- run-variant: run/segment_digital
-- requires: customer_segment, channel, product_recommendation_status
-- units: adoption_gap_to_top=pp, adoption_vs_overall=pp, assisted_acceptance=percent, digital_acceptance=percent, digital_channels=text, digital_share=percent, digital_vs_assisted=pp, extra_acceptances=count, overall_digital_share=percent, recommendations=count, segment=text, top_digital_segment=text, top_digital_share=percent
WITH base AS (
    SELECT customer_segment AS segment, list_contains({{digital_channels}}, channel) AS digital,
           CASE WHEN product_recommendation_status = {{accepted}} THEN 1.0 ELSE 0.0 END AS accepted
    FROM {{table}}
    WHERE customer_segment IS NOT NULL AND channel IS NOT NULL
),
overall AS (SELECT avg(CASE WHEN digital THEN 1.0 ELSE 0.0 END) AS overall_digital_share FROM base),
segments AS (
    SELECT segment, count(*) AS recommendations,
           avg(CASE WHEN digital THEN 1.0 ELSE 0.0 END) AS digital_share,
           avg(accepted) FILTER (WHERE digital) AS digital_acceptance,
           avg(accepted) FILTER (WHERE NOT digital) AS assisted_acceptance
    FROM base
    GROUP BY segment
    HAVING count(*) >= {{min_group_size}}
),
{{> strategy/_segment_digital_tail}}
