-- title: (fragment) what strategy/segment_digital and run/segment_digital compute after their first rows
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
