-- title: Booked annual revenue, programme cost and first-year ROI
-- requires: product_recommendation_status, product_sales_amount, product_id, product_recommendation_date, products.product_id, products.margin
-- units: attributed_revenue_per_year=currency, attribution_rate=percent, booked_revenue=currency, cost_per_recommendation=currency, cost_per_year=currency, delivery_cost_per_year=currency, effective_margin=percent, first_year_roi=percent, net_revenue_per_year=currency, period_years=number, program_cost=currency, recommendations=count, recommendations_per_year=number, revenue_cost_ratio=times, revenue_per_year=currency, sales_with_margin=currency
WITH settings AS (
    SELECT CAST({{program_cost}} AS DOUBLE) AS program_cost,
           CAST({{cost_per_recommendation}} AS DOUBLE) AS unit_cost,
           CAST({{attribution_rate}} AS DOUBLE) AS attribution_rate
),
{{> financial/_catalogue}},
booked AS (
    SELECT sum(r.product_sales_amount * c.margin) AS revenue,
           sum(r.product_sales_amount) AS sales
    FROM {{table}} AS r
    JOIN catalogue AS c ON c.product_id = r.product_id
    WHERE r.product_recommendation_status = {{accepted}} AND r.product_sales_amount IS NOT NULL
      AND c.margin IS NOT NULL
),
span AS (
    SELECT count(*) AS recommendations,
           date_diff('day', min(product_recommendation_date), max(product_recommendation_date)) / 365.25 AS years
    FROM {{table}}
),
yearly AS (
    SELECT b.revenue, b.sales, sp.recommendations, sp.years, st.program_cost, st.unit_cost, st.attribution_rate,
           b.revenue / nullif(sp.years, 0) AS revenue_per_year,
           b.revenue / nullif(sp.years, 0) * st.attribution_rate AS attributed_revenue_per_year,
           sp.recommendations / nullif(sp.years, 0) AS recommendations_per_year,
           st.program_cost + sp.recommendations / nullif(sp.years, 0) * st.unit_cost AS cost_per_year
    FROM booked AS b, span AS sp, settings AS st
)
SELECT round(revenue, 2) AS booked_revenue,
       round(sales, 2) AS sales_with_margin,
       revenue / nullif(sales, 0) AS effective_margin,
       years AS period_years,
       recommendations,
       round(recommendations_per_year, 2) AS recommendations_per_year,
       round(revenue_per_year, 2) AS revenue_per_year,
       attribution_rate,
       round(attributed_revenue_per_year, 2) AS attributed_revenue_per_year,
       program_cost,
       unit_cost AS cost_per_recommendation,
       round(recommendations_per_year * unit_cost, 2) AS delivery_cost_per_year,
       round(cost_per_year, 2) AS cost_per_year,
       round(attributed_revenue_per_year - cost_per_year, 2) AS net_revenue_per_year,
       (attributed_revenue_per_year - cost_per_year) / nullif(cost_per_year, 0) AS first_year_roi,
       attributed_revenue_per_year / nullif(cost_per_year, 0) AS revenue_cost_ratio
FROM yearly
