-- title: The conversion scores in the database: the scoring run that wrote them, its model and data fingerprint
-- requires: scores.score_run_id, scores.model_id, scores.task, score_runs.score_run_id, score_runs.fingerprint, score_runs.source_table
-- units: score_run_id=text, created_at=text, model_id=text, source_table=text, fingerprint=text, scored_rows=count
SELECT -- `finmatch predict score conversion` replaces the task's rows in one transaction, so there is one
       -- run; the newest comes first if an older writer left several
       s.score_run_id, CAST(r.created_at AS VARCHAR) AS created_at, s.model_id, r.source_table, r.fingerprint,
       count(*) AS scored_rows
FROM scores AS s
LEFT JOIN score_runs AS r ON r.score_run_id = s.score_run_id
WHERE s.task = {{task}}
GROUP BY ALL
ORDER BY created_at DESC NULLS LAST, s.score_run_id DESC
