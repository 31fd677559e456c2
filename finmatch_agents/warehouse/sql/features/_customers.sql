-- title: (fragment) the customer's number of records
f_customers AS (
    SELECT customer_id, count(*) AS records FROM records GROUP BY customer_id
)
