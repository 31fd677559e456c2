"""How an agent is declared, and what its data steps can do.

An agent module declares an :class:`AgentSpec`: its workflow steps (names and order from the FinMatch
document), a function per data step, and rules that tell the offline analyst how to read each kind of
finding. Data steps talk to a :class:`StepContext` only: run named SQL, record findings, add tables, chart
specs and notes. Every number a step writes comes from a query result it ran, and every block it adds is
data (a :mod:`finmatch_agents.records` block): the report renders them once, at publish.

The graph (``finmatch_agents.graph``) turns a spec into nodes; agents never see LangGraph.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from finmatch_agents.data import queries
from finmatch_agents.data.schema import STATUS_PARAMS
from finmatch_agents.events import Emit, make_event
from finmatch_agents.evidence import jsonable
from finmatch_agents.formatting import fmt_count, fmt_pp, is_number
from finmatch_agents.ids import refs
from finmatch_agents.records import (
    Block,
    ChartBlock,
    ChartSeries,
    ChartSpec,
    Effort,
    Estimate,
    Finding,
    FindingBlock,
    Horizon,
    Impact,
    NoteBlock,
    Polarity,
    Profile,
    Query,
    SkippedBlock,
    StepKind,
    TableBlock,
    TableColumn,
    TextBlock,
)
from finmatch_agents.stats import RateComparison, adjust, against_rest
from finmatch_agents.warehouse import named

if TYPE_CHECKING:
    from pathlib import Path

    from finmatch_agents.assumptions import Assumptions
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.units import Unit
    from finmatch_agents.warehouse.engine import Engine, QueryResult


@dataclass(frozen=True)
class RecDraft:
    """A recommendation as a rule writes it; the analyst fills impact (if not given), horizon and ids."""

    title: str
    rationale: str
    effort: Effort
    owner: str
    success_metric: str
    impact: Impact | None = None
    horizon: Horizon | None = None
    topic: str | None = None
    direction: Literal["grow", "reduce", "fix"] | None = None
    counter_topic: str | None = None
    estimate: Estimate | None = None


@dataclass(frozen=True)
class RuleOutput:
    insight: str | None = None
    recommendation: RecDraft | None = None
    risk: str | None = None


Rule = Callable[[Finding, "FindingIndex"], RuleOutput | None]


@dataclass(frozen=True)
class StepSpec:
    name: str
    kind: StepKind
    about: str  # what the FinMatch document says the step does
    run: Callable[[StepContext], None] | None = None


@dataclass(frozen=True)
class AgentSpec:
    key: str  # performance | optimization | financial-impact | strategy
    title: str
    block: int  # first id number minus one (100 -> Q101, F101); see finmatch_agents.ids
    challenge: str
    solution: str
    steps: tuple[StepSpec, ...]
    rules: Mapping[str, Rule] = field(default_factory=dict)
    #: run tables (``warehouse.named.RUN_TABLES``) its queries read: built once, before the agents start
    run_tables: tuple[str, ...] = ()

    @property
    def prompt_name(self) -> str:
        return self.key


class FindingIndex:
    """Findings of one agent by key, so a rule can relate one finding to another."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.all = list(findings)
        self._by_key: dict[str, list[Finding]] = {}
        for f in findings:
            self._by_key.setdefault(f.key, []).append(f)

    def get(self, key: str) -> Finding | None:
        found = self._by_key.get(key)
        return found[0] if found else None

    def every(self, key: str) -> list[Finding]:
        return list(self._by_key.get(key, []))


def confidence_from_n(n: Any) -> float:
    """Confidence of a rate measured on ``n`` records: 0.67 at 100, 0.95 at 1,000 (n / (n + 50))."""
    try:
        count = float(n)
    except (TypeError, ValueError):
        return 0.5
    return round(count / (count + 50.0), 4) if count > 0 else 0.0


def ref(*results: QueryResult | Query | str | None) -> str:
    """``[Q103]`` references for query results (or ids)."""
    return refs([r if isinstance(r, str) else r.id for r in results if r is not None])


def percent_values(values: Sequence[object], digits: int = 1) -> list[float | None]:
    """Ratios (0.253) as percentages (25.3) for charts."""
    return [round(float(v) * 100, digits) if is_number(v) else None for v in values]  # type: ignore[arg-type]


def xy_chart(title: str, labels: Sequence[object], series: Sequence[tuple[str, Sequence[object]]], *,
             y_title: str = "", digits: int = 1) -> ChartSpec:
    """Bars and/or a line over categories; ``series`` items are ("bar" | "line", values)."""
    return ChartSpec(title=title, labels=tuple(str(x) for x in labels), y_title=y_title, digits=digits,
                     series=tuple(ChartSeries(kind=kind,  # type: ignore[arg-type]
                                              values=tuple(float(v) if is_number(v) else None  # type: ignore[arg-type]
                                                           for v in values))
                                  for kind, values in series))


def test_values(c: RateComparison, min_effect: float) -> dict[str, Any]:
    """A comparison as finding values (so rules, the report and diffs see the test behind a statement)."""
    return {"rate_a": c.rate_a, "rate_b": c.rate_b, "diff": c.diff, "low": c.low, "high": c.high, "p": c.p,
            "p_adjusted": c.p_adjusted, "clear": c.clear(min_effect)}


#: the label named SQL gives a missing category (missing values are a group of their own, never dropped)
NOT_RECORDED = "Not recorded"

TEST_UNITS: dict[str, Unit] = {"rate_a": "percent", "rate_b": "percent",
                               "diff": "pp", "low": "pp", "high": "pp", "p": "number", "p_adjusted": "number",
                               "clear": "text"}


def against_rest_all(rows: Sequence[dict[str, Any]], *, key: str, n: str = "recommendations",
                     rate: str = "acceptance_rate") -> dict[Any, RateComparison]:
    """Each group of a table against the rest of it, adjusted for the number of groups (Benjamini-Hochberg)."""
    usable = [r for r in rows if is_number(r.get(n)) and is_number(r.get(rate))]
    n_total = sum(float(r[n]) for r in usable)
    k_total = sum(float(r[n]) * float(r[rate]) for r in usable)
    raw = [against_rest(float(r[n]) * float(r[rate]), float(r[n]), k_total, n_total) for r in usable]
    return {r[key]: c for r, c in zip(usable, adjust(raw), strict=True)}


def gap_estimate(n: float, test: dict[str, Any], total: float, unit: str, basis: str, query_id: str
                 ) -> dict[str, Any] | None:
    """What closing a measured gap would be worth, as finding values: ``n`` times the difference (and its 95%
    interval), for a group that trails (``test["diff"]`` below zero: the group's rate minus the benchmark's).
    None when the gap is not clear, when there is no baseline, or when the group does not trail. A step keeps
    it in its finding (so every figure is in the evidence); a rule turns it into an :class:`Estimate`."""
    diff, low, high = float(test["diff"]), float(test["low"]), float(test["high"])
    if not test.get("clear") or diff >= 0 or total <= 0:
        return None
    value = -diff * n
    return {"value": value, "low": max(0.0, -high * n), "high": -low * n, "unit": unit, "share": value / total,
            "basis": basis, "query_id": query_id}


def estimate_of(values: dict[str, Any] | None) -> Estimate | None:
    return Estimate(**values) if values else None


def assumed(sources: dict[str, str], key: str, shown: str) -> str:
    """A figure that is an assumption, named as one in the sentence that uses it, with whether the user set it:
    ``USD 500.0k a year (program_cost assumption, default)``."""
    origin = "default" if sources.get(key, "default") == "default" else "as configured"
    return f"{shown} ({key} assumption, {origin})"


def rests_on_defaults(sources: dict[str, str]) -> bool:
    return any(v == "default" for v in sources.values())


def interval_text(test: dict[str, Any]) -> str:
    """The 95% interval of a tested difference, as the report writes it."""
    return f"95% CI {fmt_pp(test['low'])} to {fmt_pp(test['high'])}"


def estimate_text(est: Estimate | None, template: str) -> str:
    """A sentence stating an estimate with its interval (``template`` holds ``{n}``); empty without one."""
    if est is None:
        return ""
    return f" {template.format(n=fmt_count(est.value))} (95% CI {fmt_count(est.low)} to {fmt_count(est.high)})."


def flip(test: dict[str, Any]) -> dict[str, Any]:
    """A test of A against B as a test of B against A."""
    return {**test, "diff": -test["diff"], "low": -test["high"], "high": -test["low"]}


ESTIMATE_UNITS: dict[str, Unit] = {"estimate.value": "count", "estimate.low": "count", "estimate.high": "count",
                                   "estimate.share": "percent", "estimate.unit": "text", "estimate.basis": "text"}


def _leaves(values: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted path, value) of every leaf of a finding's values; lists are leaves."""
    if isinstance(values, dict):
        return [leaf for k, v in values.items() for leaf in _leaves(v, f"{prefix}.{k}" if prefix else str(k))]
    return [(prefix, values)]


def present_columns(profile: Profile) -> set[str]:
    """The columns named queries may require: the records table's, and ``table.column`` for the others."""
    return set(profile.present) | {f"{t}.{c}" for t, cols in profile.catalog.items() for c in cols}


def query_params(table: str, assumptions: Assumptions) -> dict[str, Any]:
    """The parameters every agent query is rendered with (status values come from the data dictionary)."""
    return {"table": table, "products": "products", **assumptions.params()}


def build_run_tables(specs: Sequence[AgentSpec], engine: Engine, log: QueryLog, *, table: str, profile: Profile,
                     assumptions: Assumptions) -> None:
    """Build, once and in a fixed order, the run tables the given agents read (so their ids are the same on
    every run); a table whose columns are absent is not built, and its readers run their standalone queries."""
    present, params = present_columns(profile), {**STATUS_PARAMS, **query_params(table, assumptions)}
    for name in dict.fromkeys(t for spec in specs for t in spec.run_tables):
        named.build_run_table(engine, log, name, present=present, **params)


class StepContext:
    """What a data step can do; collects its findings, report blocks and queries."""

    def __init__(self, spec: AgentSpec, step: StepSpec, *, run_id: str, table: str, currency: str, profile: Profile,
                 engine: Engine, assumptions: Assumptions, emit: Emit, log: QueryLog,
                 prior_findings: Sequence[Finding], state_dir: Path | None = None) -> None:
        self.spec, self.step, self.engine, self.emit, self.log = spec, step, engine, emit, log
        self.state_dir = state_dir  # where `finmatch predict` keeps its models (None: no models are consulted)
        self.run_id, self.table_name, self.currency, self.profile = run_id, table, currency, profile
        self.assumptions = assumptions
        self.prior_findings = list(prior_findings)
        self.findings: list[Finding] = []
        self.blocks: list[Block] = []
        self._next_finding = spec.block + 1 + len(self.prior_findings)
        self._units: dict[str, dict[str, Unit]] = {}  # query id -> declared column units
        self.present: set[str] = present_columns(profile)

    @property
    def min_group(self) -> int:
        return int(self.assumptions["min_group_size"])

    @property
    def min_effect(self) -> float:
        return float(self.assumptions["min_effect"])

    def has(self, *columns: str) -> bool:
        return all(c in self.present for c in columns)

    def sources(self, *keys: str) -> dict[str, str]:
        """Where each assumption a figure rests on comes from (kept in the finding, so rules can say it)."""
        return {k: self.assumptions.source(k) for k in keys}

    def params(self) -> dict[str, Any]:
        return query_params(self.table_name, self.assumptions)

    # -- evidence ----------------------------------------------------------------------------------------
    def sql(self, name: str, *, what: str | None = None, **params: Any) -> QueryResult | None:
        """Run a named query; when a column it needs is absent, note that in the report and return None."""
        query = named.load(name)
        res = queries.run(self.engine, self.log, name, present=self.present, **{**self.params(), **params})
        if isinstance(res, named.Skipped):
            self.skipped(what or query.title, res.reason)
            return None
        self._units[res.id] = query.units
        return res

    def units_of(self, query_ids: Sequence[str]) -> dict[str, Unit]:
        """Column units declared by the named queries behind ``query_ids`` (the first declaration wins)."""
        out: dict[str, Unit] = {}
        for qid in query_ids:
            for column, unit in self._units.get(qid, {}).items():
                out.setdefault(column, unit)
        return out

    def finding(self, key: str, title: str, statement: str, values: dict[str, Any],
                queries: Sequence[QueryResult | Query | str], *, effect: float = 0.0,
                confidence: float | None = None, polarity: Polarity = "neutral", n: Any = None,
                units: dict[str, Unit] | None = None) -> Finding:
        """Record a finding. Each value takes the unit its query column declares (by the leaf name), unless
        ``units`` names one (for values renamed or derived in the step)."""
        ids = tuple(dict.fromkeys(q if isinstance(q, str) else q.id for q in queries))
        cited = ref(*ids)
        text = statement if not cited or cited in statement else f"{statement} {cited}"
        conf = confidence if confidence is not None else (confidence_from_n(n) if n is not None else 1.0)
        declared, given = self.units_of(ids), units or {}
        value_units: dict[str, Unit] = {}
        for path, _value in _leaves(values):
            leaf = path.rsplit(".", 1)[-1]
            unit = given.get(path) or given.get(leaf) or declared.get(leaf)
            if unit:
                value_units[path] = unit
        found = Finding(id=f"F{self._next_finding}", agent=self.spec.key, step=self.step.name, key=key, title=title,
                        statement=text, values=jsonable(values), units=value_units, query_ids=ids,
                        effect=round(float(effect), 4), confidence=round(conf, 4), polarity=polarity)
        self._next_finding += 1
        self.findings.append(found)
        self.blocks.append(FindingBlock(id=found.id))
        self.emit(make_event("finding", self.run_id, self.spec.key, self.step.name, finding_id=found.id,
                             title=title, statement=text))
        return found

    # -- report blocks -----------------------------------------------------------------------------------
    def text(self, markdown: str) -> None:
        self.blocks.append(TextBlock(text=markdown))

    def note(self, markdown: str) -> None:
        self.blocks.append(NoteBlock(text=markdown))

    def skipped(self, what: str, reason: str) -> None:
        self.blocks.append(SkippedBlock(title=what, reason=reason))

    def table(self, title: str, result: QueryResult | str, columns: Sequence[tuple[str, str] | tuple[str, str, str]],
              rows: list[dict[str, Any]] | None = None) -> None:
        """A table of ``rows`` (default: the whole result); ``columns`` are (key, heading) with the unit the
        query declares, or (key, heading, unit) for tables built from rows the step assembled.

        ``result`` may be a query id (e.g. one of the profile's queries) when ``rows`` are given.
        """
        if isinstance(result, str):
            if rows is None:
                raise ValueError("rows are required when the table cites a query id")
            data, qid = rows, result
        else:
            data, qid = (rows if rows is not None else result.dicts()), result.id
        declared = self.units_of([qid])
        cols = []
        for col in columns:
            key, label = col[0], col[1]
            unit = col[2] if len(col) == 3 else declared.get(key)
            if unit is None:
                raise ValueError(f"{self.spec.key}: table {title!r} column {key!r} has no unit (declare it in the "
                                 "query's `-- units:` header)")
            cols.append(TableColumn(key=key, label=label, unit=unit))  # type: ignore[arg-type]
        self.blocks.append(TableBlock(title=title, query=qid, columns=tuple(cols),
                                      rows=tuple({c.key: row.get(c.key) for c in cols} for row in data)))

    def chart(self, title: str, spec: ChartSpec, result: QueryResult) -> None:
        self.blocks.append(ChartBlock(title=title, query=result.id, spec=spec))
