-- title: Predictive models: decided offers and acceptances (the conversion task's rows and positives)
-- requires: product_recommendation_status
-- units: offers=count, accepted=count, open_offers=count, records=count
SELECT count(*) AS records,
       count(*) FILTER (WHERE product_recommendation_status IN ({{accepted}}, {{declined}})) AS offers,
       count(*) FILTER (WHERE product_recommendation_status = {{accepted}}) AS accepted,
       count(*) FILTER (WHERE product_recommendation_status IN ({{pending}}, {{in_progress}})) AS open_offers
FROM {{table}}
