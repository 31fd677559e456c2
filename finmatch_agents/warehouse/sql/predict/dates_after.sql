-- title: Predictive models: records whose date columns are later than the recommendation date (known after the offer)
-- requires: {{column}}
SELECT count_if(TRY_CAST(COLUMNS(lambda c: list_contains({{dates}}, c)) AS DATE) > TRY_CAST({{column}} AS DATE))
FROM {{table}}
WHERE product_recommendation_status IN ({{accepted}}, {{declined}})
