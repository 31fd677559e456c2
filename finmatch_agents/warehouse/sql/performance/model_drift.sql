-- title: The promoted model's newest drift measurement (population stability index since training), from `finmatch predict monitor --record` or a predict-train job
-- requires: model_drift.drift_run_id, model_drift.model_id, model_drift.score_psi, model_drift.fingerprint, model_drift_inputs.psi
-- units: drift_run_id=text, created_at=text, model_id=text, source_table=text, fingerprint=text, source=text, score_psi=number, score_level=text, worst_input=text, worst_input_psi=number, inputs=count, inputs_watch=count, inputs_act=count, training_rows=count, current_rows=count, new_outcome_rows=count, new_outcomes_after=date, new_outcome_auc=number, new_outcome_auc_low=number, new_outcome_auc_high=number, watch=number, act=number
SELECT -- append-only: the newest measurement of this model comes first
       drift_run_id, CAST(created_at AS VARCHAR) AS created_at, model_id, source_table, fingerprint, source,
       score_psi, score_level, worst_input, worst_input_psi, inputs, inputs_watch, inputs_act, training_rows,
       current_rows, new_outcome_rows, new_outcomes_after, new_outcome_auc, new_outcome_auc_low,
       new_outcome_auc_high, watch, act
FROM model_drift
WHERE model_id = {{model_id}}
ORDER BY created_at DESC, drift_run_id DESC
LIMIT 1
