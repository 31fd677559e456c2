-- title: (fragment) churn probability: the bank's modelled probability, mean over the customer's records
f_churn AS (
    SELECT customer_id, least(greatest(avg(customer_churn_probability), 0), 1) AS churn_probability
    FROM records
    GROUP BY customer_id
)
