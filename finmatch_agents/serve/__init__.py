"""``finmatch serve``: the engines and the analyst behind an HTTP API (FastAPI on uvicorn).

- :mod:`serve.app` builds the FastAPI application (routes under ``/v1``, OpenAPI at ``/docs``);
- :mod:`serve.errors` maps the domain errors to an HTTP status and a stable ``code``, in one place;
- :mod:`serve.keys` stores API keys hashed, with scopes; :mod:`serve.limits` the per-key rate limit and the
  request size limit; :mod:`serve.observe` the access log and the Prometheus metrics;
- :mod:`serve.engines` holds what each worker loads once (matching features, promoted models) and reloads
  when the data or a promotion changes, and lends the read-only sandbox to requests that run SQL;
- :mod:`serve.ask` answers questions through the chat's own path; :mod:`serve.runs` runs analyses in the
  background and streams their events; :mod:`serve.adapters` reaches the engines other modules provide.

Terminal libraries (Rich, Typer) are never imported here: ``cli/serve.py`` is the thin command.
"""
