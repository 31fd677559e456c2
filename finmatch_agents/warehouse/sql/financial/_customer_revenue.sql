-- title: (fragment) each customer's annual net revenue (accepted sales x product margin) and mean churn probability
{{> financial/_catalogue}},
per_customer AS (
    SELECT r.customer_id,
           {{> financial/_accepted_revenue}} AS annual_revenue,
           avg(r.customer_churn_probability) AS churn
    FROM {{table}} AS r
    LEFT JOIN catalogue AS c ON c.product_id = r.product_id
    WHERE r.customer_id IS NOT NULL
    GROUP BY r.customer_id
)
