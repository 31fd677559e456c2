-- title: Digital adoption and digital versus assisted acceptance by customer segment (from the run table finmatch_offers)
-- reads: finmatch_offers
-- requires: customer_segment, channel, product_recommendation_status
-- units: adoption_gap_to_top=pp, adoption_vs_overall=pp, assisted_acceptance=percent, digital_acceptance=percent, digital_channels=text, digital_share=percent, digital_vs_assisted=pp, extra_acceptances=count, overall_digital_share=percent, recommendations=count, segment=text, top_digital_segment=text, top_digital_share=percent
WITH base AS (
    SELECT customer_segment AS segment, list_contains({{digital_channels}}, channel) AS digital, records,
           CASE WHEN product_recommendation_status = {{accepted}} THEN records ELSE 0 END AS accepted
    FROM finmatch_offers
    WHERE customer_segment IS NOT NULL AND channel IS NOT NULL
),
overall AS (
    SELECT coalesce(sum(records) FILTER (WHERE digital), 0) / nullif(sum(records), 0) AS overall_digital_share
    FROM base
),
segments AS (
    SELECT segment, CAST(sum(records) AS BIGINT) AS recommendations,
           coalesce(sum(records) FILTER (WHERE digital), 0) / sum(records) AS digital_share,
           sum(accepted) FILTER (WHERE digital) / sum(records) FILTER (WHERE digital) AS digital_acceptance,
           sum(accepted) FILTER (WHERE NOT digital) / sum(records) FILTER (WHERE NOT digital) AS assisted_acceptance
    FROM base
    GROUP BY segment
    HAVING sum(records) >= {{min_group_size}}
),
{{> strategy/_segment_digital_tail}}
