-- title: Run table finmatch_customers: does each customer have one row (one segment and one usage trend), so per-customer queries can read it
-- reads: finmatch_customers
-- units: usable=text, rows=count, customers=count
WITH counts AS (
    SELECT (SELECT count(*) FROM finmatch_customers) AS rows,
           (SELECT count(*) FROM (SELECT DISTINCT customer_id FROM finmatch_customers) AS d) AS customers
)
SELECT rows = customers AS usable, rows, customers
FROM counts
