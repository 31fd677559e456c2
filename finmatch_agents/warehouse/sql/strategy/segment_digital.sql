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
