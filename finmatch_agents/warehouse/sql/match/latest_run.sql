-- title: The latest match run (`finmatch match run`): its id, time, parameters and data fingerprint
-- requires: match_runs.run_id, match_runs.created_at, match_runs.params, match_runs.fingerprint
-- units: run_id=text, created_at=text, fingerprint=text, customers=count, params=text
SELECT run_id, CAST(created_at AS VARCHAR) AS created_at, fingerprint, customers, params
FROM match_runs
ORDER BY created_at DESC, run_id DESC
LIMIT 1
