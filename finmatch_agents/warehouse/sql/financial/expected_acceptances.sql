-- title: Expected acceptances of the open offers: the sum of the promoted model's calibrated propensities against the flat historical acceptance rate
-- requires: product_recommendation_status, record_id, product_sales_amount, product_id, products.product_id, products.margin, scores.score, scores.record_id, scores.task, scores.model_id
-- units: model_id=text, open_offers=count, scored_offers=count, mean_propensity=percent, expected_acceptances=count, expected_acceptances_low=count, expected_acceptances_high=count, decided_offers=count, accepted_offers=count, flat_rate=percent, flat_expected_acceptances=count, acceptances_vs_flat=count, accepted_sales=count, revenue_per_acceptance=currency, expected_revenue=currency, expected_revenue_low=currency, expected_revenue_high=currency, flat_expected_revenue=currency, revenue_vs_flat=currency
WITH {{> financial/_catalogue}},
open_offers AS (
    SELECT r.record_id
    FROM {{table}} AS r
    WHERE r.product_recommendation_status IN ({{pending}}, {{in_progress}})
),
model AS (
    -- Each open offer's calibrated probability of acceptance, from the `scores` table the promoted model wrote.
    -- Expected acceptances are their sum; the interval is a normal one from the sum of the Bernoulli variances
    -- (it treats the probabilities as exact: the model's own calibration error is stated beside it).
    SELECT count(s.score) AS scored_offers, avg(s.score) AS mean_propensity, sum(s.score) AS expected,
           sum(s.score * (1 - s.score)) AS variance
    FROM open_offers AS o
    JOIN scores AS s ON s.record_id = o.record_id AND s.task = {{task}} AND s.model_id = {{model_id}}
),
history AS (
    -- The flat alternative: every open offer accepted at the historical rate of decided offers.
    SELECT count(*) FILTER (WHERE product_recommendation_status IN ({{accepted}}, {{declined}})) AS decided_offers,
           count(*) FILTER (WHERE product_recommendation_status = {{accepted}}) AS accepted_offers
    FROM {{table}}
),
revenue AS (
    -- Each acceptance earns the mean annual revenue of an accepted offer (amount sold x catalogue margin), as in
    -- financial/engine_replacement.
    SELECT count(*) AS accepted_sales, avg(r.product_sales_amount * c.margin) AS revenue_per_acceptance
    FROM {{table}} AS r
    JOIN catalogue AS c ON c.product_id = r.product_id
    WHERE r.product_recommendation_status = {{accepted}} AND r.product_sales_amount IS NOT NULL
      AND c.margin IS NOT NULL
),
figures AS (
    SELECT {{model_id}} AS model_id, (SELECT count(*) FROM open_offers) AS open_offers, m.scored_offers,
           m.mean_propensity, m.expected AS expected_acceptances,
           greatest(m.expected - {{z}} * sqrt(m.variance), 0) AS expected_acceptances_low,
           m.expected + {{z}} * sqrt(m.variance) AS expected_acceptances_high,
           h.decided_offers, h.accepted_offers,
           CAST(h.accepted_offers AS DOUBLE) / nullif(h.decided_offers, 0) AS flat_rate,
           v.accepted_sales, v.revenue_per_acceptance
    FROM model AS m, history AS h, revenue AS v
)
SELECT model_id, open_offers, scored_offers, mean_propensity, expected_acceptances, expected_acceptances_low,
       expected_acceptances_high, decided_offers, accepted_offers, flat_rate,
       open_offers * flat_rate AS flat_expected_acceptances,
       expected_acceptances - open_offers * flat_rate AS acceptances_vs_flat,
       accepted_sales, revenue_per_acceptance,
       expected_acceptances * revenue_per_acceptance AS expected_revenue,
       expected_acceptances_low * revenue_per_acceptance AS expected_revenue_low,
       expected_acceptances_high * revenue_per_acceptance AS expected_revenue_high,
       open_offers * flat_rate * revenue_per_acceptance AS flat_expected_revenue,
       (expected_acceptances - open_offers * flat_rate) * revenue_per_acceptance AS revenue_vs_flat
FROM figures
