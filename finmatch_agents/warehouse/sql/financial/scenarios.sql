-- title: Scenario projections: sales uplift, churn reduction and both
-- run-variant: run/scenarios
-- requires: customer_id, product_recommendation_status, product_sales_amount, product_id, customer_churn_probability, products.product_id, products.margin
-- units: annual_revenue=currency, arpu=currency, arpu_after_churn=currency, arpu_change=currency, assumed_churn_reduction=percent, assumed_sales_uplift=percent, churn_change=percent, customers=count, expected_churn_loss=currency, gain_share=percent, gain_vs_baseline=currency, revenue_after_churn=currency, revenue_retained=currency, revenue_uplift=currency, sales_change=percent, sales_vs_churn_ratio=times, scenario=text
WITH settings AS (
    SELECT CAST({{sales_uplift}} AS DOUBLE) AS uplift, CAST({{churn_reduction}} AS DOUBLE) AS reduction
),
{{> financial/_customer_revenue}},
{{> financial/_scenarios_tail}}
