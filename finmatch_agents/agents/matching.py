"""Evidence from the product-matching engine (``finmatch match``) for the Optimization and Financial Impact agents.

Only when the database holds a match run (``match_runs``, written by ``finmatch match run``): without one
these steps add nothing, so the default report is unchanged. The engine is replayed with the latest run's
parameters as the time-holdout backtest of ``finmatch match evaluate`` (features, holdings and popularity
from the records before the cut-off, offers from the cut-off on), so a past offer is judged with what was
known when it was made; judging it with today's holdings would count every accepted offer as "already held".
Every query the backtest runs goes through the agent's sandbox and log, and the findings cite them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, cast

from finmatch_agents.errors import FinMatchError
from finmatch_agents.match.evaluate import evaluate
from finmatch_agents.match.gates import RULE_BY_ID
from finmatch_agents.match.params import MatchParams
from finmatch_agents.stats import newcombe, rate_interval
from finmatch_agents.warehouse.engine import HARD_ROW_CAP

if TYPE_CHECKING:
    from finmatch_agents.agents.base import StepContext
    from finmatch_agents.warehouse.engine import Engine, QueryResult

#: the run table ``finmatch match run`` writes; its presence switches the engine evidence on
RUNS_COLUMN = "match_runs.params"


class _WholeBook:
    """The agent's sandbox with the hard row cap for the engine's one-row-per-customer results (as
    ``finmatch match`` opens it), so a large book is fetched in a few parts instead of dozens."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def query(self, sql: str, **kw: Any) -> QueryResult:
        kw.setdefault("max_rows", HARD_ROW_CAP)
        return self._engine.query(sql, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


@dataclass(frozen=True)
class EngineEvidence:
    """The backtest of the latest match run's parameters, reduced to what the agents state."""

    values: dict[str, Any]
    query_ids: tuple[str, ...]


def run_params(stored: str) -> MatchParams:
    """The :class:`MatchParams` a match run recorded (``match_runs.params``, JSON of ``MatchParams.to_dict``)."""
    data = json.loads(stored)
    names = {f.name for f in fields(MatchParams)}
    return MatchParams(**{k: v for k, v in data.items() if k in names})


def _rate(group: dict[str, Any]) -> Any:
    return rate_interval(int(group["accepted"]), int(group["offers"]))


def engine_evidence(ctx: StepContext) -> EngineEvidence | None:
    """The engine's verdict on the bank's past offers, or None when there is no match run (nothing is added)
    or the data cannot be backtested (a note says why)."""
    if not ctx.has(RUNS_COLUMN):
        return None
    latest = ctx.sql("match/latest_run", what="The latest match run")
    if latest is None or not latest.rows:
        return None
    run = latest.first()
    try:
        params = run_params(str(run["params"]))
        result = evaluate(cast("Engine", _WholeBook(ctx.engine)), ctx.log, ctx.table_name, ctx.present, params)
    except (FinMatchError, ValueError, TypeError) as exc:
        message = exc.message if isinstance(exc, FinMatchError) else f"its parameters do not load ({exc})"
        ctx.skipped("Matching engine backtest", f"match run {run['run_id']}: {message}")
        return None
    # the run, the calendar and the test offers carry the counts; the feature queries (also logged) the gates
    ids = (latest.id, *(result.queries[q] for q in ("match/cutoff", "match/test_offers") if q in result.queries))
    acc = result.acceptance
    k = params.top
    top, unsuitable = acc["groups"][f"engine_top{k}"], acc["groups"]["unsuitable"]
    if not (top["offers"] and unsuitable["offers"]):
        ctx.skipped("Matching engine backtest", f"match run {run['run_id']}: the test window has no decided offer "
                    f"{'in the engine top ' + str(k) if not top['offers'] else 'that fails a gate'}")
        return None
    gap = newcombe(_rate(top), _rate(unsuitable))
    gates = acc["first_failing_gate"]
    most = max(gates, key=lambda g: (gates[g]["offers"], g))
    worst = min(gates, key=lambda g: (gates[g]["rate"]["value"], g))
    cal = result.calendar
    days = (cal["last_date"] - result.cutoff).days + 1
    values = {
        "run_id": run["run_id"], "run_created_at": run["created_at"], "cutoff": result.cutoff.isoformat(),
        "last_date": str(cal["last_date"]), "test_days": days, "top": k, "mode": params.mode,
        "decided_offers": acc["decided_offers"],
        "unsuitable_offers": unsuitable["offers"], "unsuitable_share": unsuitable["offers"] / acc["decided_offers"],
        "unsuitable_accepted": unsuitable["accepted"], "unsuitable_rate": unsuitable["rate"]["value"],
        "unsuitable_low": unsuitable["rate"]["low"], "unsuitable_high": unsuitable["rate"]["high"],
        "top_offers": top["offers"], "top_accepted": top["accepted"], "top_rate": top["rate"]["value"],
        "top_low": top["rate"]["low"], "top_high": top["rate"]["high"],
        "gap": gap.value, "gap_low": gap.low, "gap_high": gap.high, "clear": bool(gap.low > 0),
        "most_failed_gate": most, "most_failed_gate_name": RULE_BY_ID[most].name,
        "most_failed_gate_offers": gates[most]["offers"], "most_failed_gate_rate": gates[most]["rate"]["value"],
        "worst_gate": worst, "worst_gate_name": RULE_BY_ID[worst].name, "worst_gate_offers": gates[worst]["offers"],
        "worst_gate_rate": gates[worst]["rate"]["value"],
    }
    return EngineEvidence(values=values, query_ids=ids)


#: units of :attr:`EngineEvidence.values` (finding values are shown and diffed by unit)
UNITS: dict[str, Any] = {
    "run_id": "text", "run_created_at": "text", "cutoff": "text", "last_date": "text", "test_days": "count",
    "top": "count", "mode": "text", "decided_offers": "count", "unsuitable_offers": "count",
    "unsuitable_share": "percent", "unsuitable_accepted": "count", "unsuitable_rate": "percent",
    "unsuitable_low": "percent", "unsuitable_high": "percent", "top_offers": "count", "top_accepted": "count",
    "top_rate": "percent", "top_low": "percent", "top_high": "percent", "gap": "pp", "gap_low": "pp",
    "gap_high": "pp", "clear": "text", "most_failed_gate": "text", "most_failed_gate_name": "text",
    "most_failed_gate_offers": "count", "most_failed_gate_rate": "percent", "worst_gate": "text",
    "worst_gate_name": "text", "worst_gate_offers": "count", "worst_gate_rate": "percent",
}
