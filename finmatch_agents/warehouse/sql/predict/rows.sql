-- title: Predictive models: records in the table (sizes the partitions of a scoring read)
-- units: records=count
SELECT count(*) AS records FROM {{table}}
