-- title: Revenue effect of replacing the offers that fail the matching engine's gates with its choice (backtest figures as inputs)
-- requires: product_recommendation_status, product_sales_amount, product_id, products.product_id, products.margin
-- units: replaced_offers=count, test_days=count, gain=pp, gain_low=pp, gain_high=pp, accepted_sales=count, revenue_per_acceptance=currency, extra_acceptances=count, extra_acceptances_low=count, extra_acceptances_high=count, extra_revenue=currency, extra_revenue_low=currency, extra_revenue_high=currency, extra_revenue_per_year=currency, extra_revenue_per_year_low=currency, extra_revenue_per_year_high=currency
WITH inputs AS (
    -- The backtest (`finmatch match evaluate` with the latest match run's parameters) gives how many decided
    -- test-window offers fail a gate and how much better the engine's top offers converted (a difference of
    -- rates with its 95% interval). Assumptions: a replaced offer converts like the engine's top offers did;
    -- each extra acceptance earns the mean annual revenue of an accepted offer (amount sold x catalogue margin).
    SELECT CAST({{replaced_offers}} AS DOUBLE) AS replaced_offers, CAST({{test_days}} AS DOUBLE) AS test_days,
           CAST({{gain}} AS DOUBLE) AS gain, CAST({{gain_low}} AS DOUBLE) AS gain_low,
           CAST({{gain_high}} AS DOUBLE) AS gain_high
),
{{> financial/_catalogue}},
revenue AS (
    SELECT count(*) AS accepted_sales, avg(r.product_sales_amount * c.margin) AS revenue_per_acceptance
    FROM {{table}} AS r
    JOIN catalogue AS c ON c.product_id = r.product_id
    WHERE r.product_recommendation_status = {{accepted}} AND r.product_sales_amount IS NOT NULL
      AND c.margin IS NOT NULL
),
effect AS (
    SELECT i.*, v.accepted_sales, v.revenue_per_acceptance,
           i.replaced_offers * i.gain AS extra_acceptances,
           i.replaced_offers * greatest(i.gain_low, 0) AS extra_acceptances_low,
           i.replaced_offers * greatest(i.gain_high, 0) AS extra_acceptances_high
    FROM inputs AS i, revenue AS v
)
SELECT replaced_offers, test_days, gain, gain_low, gain_high, accepted_sales, revenue_per_acceptance,
       extra_acceptances, extra_acceptances_low, extra_acceptances_high,
       extra_acceptances * revenue_per_acceptance AS extra_revenue,
       extra_acceptances_low * revenue_per_acceptance AS extra_revenue_low,
       extra_acceptances_high * revenue_per_acceptance AS extra_revenue_high,
       extra_acceptances * revenue_per_acceptance * 365.25 / nullif(test_days, 0) AS extra_revenue_per_year,
       extra_acceptances_low * revenue_per_acceptance * 365.25 / nullif(test_days, 0) AS extra_revenue_per_year_low,
       extra_acceptances_high * revenue_per_acceptance * 365.25 / nullif(test_days, 0) AS extra_revenue_per_year_high
FROM effect
