-- title: Run table finmatch_offers: recommendations and accepted revenue per segment, product type, affinity, lifecycle stage, channel and status (built once per run; the offer-level queries that group by these read it instead of every record)
-- requires: customer_segment, product_type, customer_product_affinity, customer_lifecycle_stage, channel, product_recommendation_status, product_sales_amount, product_id, products.product_id, products.margin
-- units: customer_segment=text, product_type=text, customer_product_affinity=text, customer_lifecycle_stage=text, channel=text, product_recommendation_status=text, records=count, revenue=currency
WITH {{> financial/_catalogue}}
SELECT r.customer_segment, r.product_type, r.customer_product_affinity, r.customer_lifecycle_stage, r.channel,
       r.product_recommendation_status,
       count(*) AS records,
       -- a record's net revenue to the bank: its accepted sale x its product's catalogue margin (0 otherwise)
       sum(CASE WHEN r.product_recommendation_status = {{accepted}}
                THEN coalesce(r.product_sales_amount * c.margin, 0) ELSE 0 END) AS revenue
FROM {{table}} AS r
LEFT JOIN catalogue AS c ON c.product_id = r.product_id
-- every combination that occurs, NULLs included: each reader regroups it exactly as it grouped the records
GROUP BY r.customer_segment, r.product_type, r.customer_product_affinity, r.customer_lifecycle_stage, r.channel,
         r.product_recommendation_status
