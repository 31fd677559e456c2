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
compared AS (
    SELECT segments.*, overall_digital_share,
           digital_acceptance - assisted_acceptance AS digital_vs_assisted,
           digital_share - overall_digital_share AS adoption_vs_overall,
           max(digital_share) OVER () AS top_digital_share,
           first_value(segment) OVER (ORDER BY digital_share DESC, segment
                                       ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
             AS top_digital_segment
    FROM segments, overall
)
SELECT segment, recommendations, digital_share, digital_acceptance, assisted_acceptance, digital_vs_assisted,
       overall_digital_share, adoption_vs_overall, top_digital_share, top_digital_segment,
       top_digital_share - digital_share AS adoption_gap_to_top,
       -- extra acceptances on the same volume if the segment matched the most digital segment's adoption
       (top_digital_share - digital_share) * recommendations * (digital_acceptance - assisted_acceptance)
         AS extra_acceptances,
       {{digital_channels}} AS digital_channels
FROM compared
ORDER BY extra_acceptances DESC NULLS LAST, segment
