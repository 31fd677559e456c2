-- title: Predictive models: customers with a churn outcome and how many churned
-- requires: customer_id, customer_churned
-- units: customers=count, labelled=count, churned=count
SELECT count(*) AS customers, count(y) AS labelled, count(*) FILTER (WHERE y = 1) AS churned
FROM (SELECT customer_id, CAST(bool_or(customer_churned) AS INTEGER) AS y
      FROM {{table}} WHERE customer_id IS NOT NULL GROUP BY customer_id) AS c
