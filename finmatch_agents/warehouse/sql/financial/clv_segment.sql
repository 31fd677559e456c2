-- title: Customer lifetime value by customer segment
-- run-variant: run/clv_segment
-- requires: customer_id, customer_segment, product_recommendation_status, product_sales_amount, product_id, customer_churn_probability, products.product_id, products.margin
-- units: annual_revenue=currency, arpu=currency, avg_churn=percent, avg_clv=currency, clv_share=percent, clv_share_index=times, customer_share=percent, customers=count, revenue_at_risk=currency, revenue_at_risk_share=percent, segment=text, share_of_total_at_risk=percent, total_clv=currency
WITH {{> financial/_catalogue}},
per_customer AS (
    SELECT r.customer_id, r.customer_segment AS segment,
           coalesce(sum(r.product_sales_amount * c.margin)
                    FILTER (WHERE r.product_recommendation_status = {{accepted}}), 0) AS annual_revenue,
           avg(r.customer_churn_probability) AS churn
    FROM {{table}} AS r
    LEFT JOIN catalogue AS c ON c.product_id = r.product_id
    WHERE r.customer_id IS NOT NULL AND r.customer_segment IS NOT NULL
    GROUP BY r.customer_id, r.customer_segment
),
{{> financial/_clv_segment_tail}}
