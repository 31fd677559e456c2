-- title: (fragment) profit: annual revenue from accepted products x catalogue margin, as a percentile among customers
{{> financial/_catalogue}},
profit_per_customer AS (
    SELECT r.customer_id, {{> financial/_accepted_revenue}} AS annual_revenue
    FROM population AS r
    LEFT JOIN catalogue AS c ON c.product_id = r.product_id
    GROUP BY r.customer_id
),
f_profit AS (
    SELECT customer_id, annual_revenue, percent_rank() OVER (ORDER BY annual_revenue) AS profit
    FROM profit_per_customer
)
