-- title: The inputs of one drift measurement by population stability index, worst first
-- requires: model_drift_inputs.drift_run_id, model_drift_inputs.feature, model_drift_inputs.psi, model_drift_inputs.level
-- units: position=count, feature=text, psi=number, level=text
SELECT position, feature, psi, level
FROM model_drift_inputs
WHERE drift_run_id = {{drift_run_id}}
ORDER BY position
LIMIT 12
