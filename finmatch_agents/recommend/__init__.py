"""Recommenders (reference/002): which products to offer each customer next, and which recommender to trust.

Candidates (popularity overall and per segment, item-item collaborative filtering on accepted products, a
content-based pairwise model on the customer feature layer, a hybrid blend learned on the validation window,
the matching engine's ranking) are fitted on offers before a cut-off and judged on the acceptances after it,
against popularity and the bank's own ``recommendation_score``. A time split, rolling-origin
cross-validation and bootstrap intervals back every figure; a promotion gate keeps a recommender only when
it beats popularity beyond the interval. Feedback (ratings, acceptances, declines) is stored append-only by
the writer and comes back as training signal and as an outcome. See docs/recommend.md.
"""
