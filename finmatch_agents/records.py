"""The records that flow through a run, typed once (frozen pydantic models).

A query, a finding, the dataset profile, an analyst's output and the report's blocks have one shape from
the step that produces them to the report that renders them: the graph state holds these types, the
checkpointer stores them (with an allow-list, :data:`CHECKPOINT_TYPES`), the run store keeps their JSON and
``finmatch diff`` reads the same records back. They turn into plain JSON only at process boundaries
(events, the run store, files) with :meth:`Record.to_json`.

Ids are stable per run: each producer numbers its own block (``Q101``… ``F101``… for the first agent, see
:mod:`finmatch_agents.ids`), so parallel agents give the same ids on every run.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from finmatch_agents.clock import utc_now
from finmatch_agents.units import Unit

Polarity = Literal["risk", "opportunity", "strength", "neutral"]
Impact = Literal["High", "Medium", "Low"]
Effort = Literal["Low", "Medium", "High"]
Horizon = Literal["Now", "Next", "Later"]
StepKind = Literal["data", "ai", "report"]

IMPACT_WEIGHT = {"High": 3.0, "Medium": 2.0, "Low": 1.0}
EFFORT_WEIGHT = {"Low": 1.0, "Medium": 2.0, "High": 3.0}
HORIZON_BY_EFFORT: dict[str, Horizon] = {"Low": "Now", "Medium": "Next", "High": "Later"}


class Record(BaseModel):
    """Base of every record: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    def to_json(self, **kwargs: Any) -> dict[str, Any]:
        """Plain JSON-safe data (for events, the run store and files)."""
        return self.model_dump(mode="json", **kwargs)


# -- evidence -----------------------------------------------------------------------------------------------
class Query(Record):
    """One statement sent to the sandbox: what ran (or was refused), its size, timing and a result sample.

    ``sample`` (the first rows, JSON-safe) stays in run state for grounding; it never reaches the audit log
    or the run store. ``units`` are the units the named SQL declares for its columns.
    """

    id: str
    sql: str
    title: str = ""
    status: Literal["ok", "refused", "timeout", "error"] = "ok"
    rows: int = 0
    truncated: bool = False
    elapsed_ms: float = 0.0
    columns: tuple[str, ...] = ()
    units: dict[str, Unit] = Field(default_factory=dict)
    error: str | None = None
    rule: str | None = None
    agent: str | None = None
    step: str | None = None
    tables: tuple[str, ...] = ()
    sample: tuple[tuple[Any, ...], ...] = ()
    ts: str = Field(default_factory=utc_now)

    def public(self) -> dict[str, Any]:
        """Everything but the result sample (what the audit log and the run store keep)."""
        return self.to_json(exclude={"sample"})


class Finding(Record):
    """A fact an agent established with SQL: what it says, the numbers behind it (with their units), and
    the queries it cites. ``statement`` carries ``[Qn]`` references."""

    id: str
    agent: str
    step: str
    key: str  # what kind of finding (the offline analyst's rules are keyed on it)
    title: str
    statement: str
    values: dict[str, Any]
    units: dict[str, Unit] = Field(default_factory=dict)  # dotted value path -> unit
    query_ids: tuple[str, ...] = ()
    effect: float = 0.0  # effect size used for ranking (0 = none, 1 = large)
    confidence: float = 1.0  # from sample size (0..1)
    polarity: Polarity = "neutral"

    @property
    def refs(self) -> str:
        return " ".join(f"[{q}]" for q in self.query_ids)

    def unit_of(self, path: str) -> Unit:
        return self.units.get(path, "number")


# -- the dataset --------------------------------------------------------------------------------------------
class ColumnProfile(Record):
    name: str
    type: str
    nulls: int
    null_rate: float
    distinct: int | None = None
    min: Any = None
    max: Any = None


class QualityFlag(Record):
    code: str
    severity: Literal["info", "warning", "error"]
    message: str
    column: str | None = None
    query_id: str | None = None


class TableSummary(Record):
    name: str
    rows: int
    columns: int
    query_id: str | None = None


class Profile(Record):
    """What is in the database, how complete it is and what looks wrong (``prepare`` and ``data info``)."""

    db: str
    table: str
    rows: int
    deleted_rows: int = 0
    customers: int | None = None
    date_min: str | None = None
    date_max: str | None = None
    fingerprint: str = ""
    columns: tuple[ColumnProfile, ...] = ()
    present: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    tables: tuple[TableSummary, ...] = ()
    flags: tuple[QualityFlag, ...] = ()
    query_ids: dict[str, str] = Field(default_factory=dict)  # which query produced which part
    catalog: dict[str, tuple[str, ...]] = Field(default_factory=dict)  # table -> columns
    sources: tuple[dict[str, Any], ...] = ()  # per source system freshness/completeness
    provenance: dict[str, Any] = Field(default_factory=dict)  # how the table was written (finmatch_meta)

    def warnings(self) -> list[QualityFlag]:
        return [f for f in self.flags if f.severity in ("warning", "error")]


# -- the run ------------------------------------------------------------------------------------------------
class AssumptionValue(Record):
    key: str
    value: Any
    unit: str
    description: str
    source: str = "default"


class RunSnapshot(Record):
    """A completed run as another run compares with it (``finmatch diff``, "Changes since last run")."""

    run_id: str
    created_at: str | None = None
    model: str | None = None
    db: str | None = None
    table: str | None = None
    rows: int | None = None
    fingerprint: str | None = None
    focus: tuple[str, ...] = ()
    currency: str = "USD"
    findings: tuple[Finding, ...] = ()


class RunMeta(Record):
    """The run's identity and parameters: the only holder of currency, focus, model and dataset."""

    run_id: str
    focus: tuple[str, ...]
    model: str
    db: str
    table: str
    created_at: str
    version: str = ""
    currency: str = "USD"
    assumptions: tuple[AssumptionValue, ...] = ()
    job: str | None = None  # set for scheduled runs: reports go to reports/<job>/
    reports_dir: str | None = None  # where the report goes (a resumed run writes where it was going to)
    formats: tuple[str, ...] = ("md",)  # report files to write: "md" always, "html" beside it when asked
    previous: RunSnapshot | None = None  # a scheduled run's predecessor (for "Changes since last run")


# -- what analysts write ------------------------------------------------------------------------------------
class Estimate(Record):
    """What acting on a recommendation would change, in the report's own units, with its 95% interval and the
    query it comes from. ``share`` is the value as a fraction of the baseline total (all acceptances, all
    revenue, all customers), so estimates in different units can be ranked together."""

    value: float
    low: float
    high: float
    unit: Literal["acceptances", "currency", "customers"]
    share: float
    basis: str  # how the number is computed, in one sentence
    query_id: str


def impact_of(estimate: Estimate) -> Impact:
    """Impact from the estimated effect: High from 5% of the baseline, Medium from 1%."""
    return "High" if estimate.share >= 0.05 else "Medium" if estimate.share >= 0.01 else "Low"


class Insight(Record):
    text: str
    agent: str
    finding_ids: tuple[str, ...] = ()
    query_ids: tuple[str, ...] = ()
    score: float = 0.0
    polarity: Polarity = "neutral"


class Recommendation(Record):
    title: str  # the action, imperative
    rationale: str  # why, with figures and [Qn] references
    impact: Impact
    effort: Effort
    owner: str
    success_metric: str
    horizon: Horizon
    finding_ids: tuple[str, ...] = ()
    query_ids: tuple[str, ...] = ()
    agent: str = ""
    score: float = 0.0
    #: what the action is about (a root cause); agents that reach the same one share a topic, so the summary
    #: keeps one canonical recommendation per topic and shows opposing advice as a trade-off
    topic: str | None = None
    #: which way the action moves the topic's entity (opposite directions on one topic are a trade-off)
    direction: Literal["grow", "reduce", "fix"] | None = None
    #: what the action takes volume from (an implicit "reduce" on that topic), e.g. shifting offers away from a
    #: segment; a "grow" on the same topic elsewhere makes a trade-off
    counter_topic: str | None = None
    estimate: Estimate | None = None
    #: other agents that reached the same root cause (their evidence is merged into this recommendation)
    also_from: tuple[str, ...] = ()
    #: its estimated effect in the report's own units, one phrase citing its query ("about 1,449 more
    #: acceptances a year [Q202]"); the summary and the recommendations table show it when set
    effect: str = ""

    @property
    def priority(self) -> float:
        return IMPACT_WEIGHT[self.impact] / EFFORT_WEIGHT[self.effort] + self.score / 10


def ranking_key(rec: Recommendation) -> tuple[int, float, str, tuple[str, ...]]:
    """The one order of recommendations everywhere: those with an estimated effect first, largest share of the
    baseline first; then the others by impact over effort; ties by agent and the findings behind them."""
    if rec.estimate is not None:
        return (0, -rec.estimate.share, rec.agent, rec.finding_ids)
    return (1, -rec.priority, rec.agent, rec.finding_ids)


class Tradeoff(Record):
    """Two agents advise opposite actions on the same thing: shown as a stated trade-off, never as two actions."""

    topic: str
    text: str
    sides: tuple[Recommendation, ...]


class AnalystOutput(Record):
    """What every analyst output carries besides its content: who wrote it, what it cost, what it flagged."""

    insights: tuple[Insight, ...] = ()
    recommendations: tuple[Recommendation, ...] = ()
    analyst: str = "offline"
    model_calls: int = 0
    tokens: int = 0
    cost: float = 0.0
    ungrounded: int = 0
    warnings: tuple[str, ...] = ()


class AgentAnalysis(AnalystOutput):
    agent: str
    risks: tuple[str, ...] = ()


class Summary(AnalystOutput):
    headline: tuple[str, ...] = ()  # key figures, each with references
    caveats: tuple[str, ...] = ()
    #: every agent's recommendations merged to one per root cause and ranked (the report's one table)
    all_recommendations: tuple[Recommendation, ...] = ()
    tradeoffs: tuple[Tradeoff, ...] = ()
    # insights: the most important insights of each agent; recommendations: the top ones across agents


# -- report blocks: what a step contributes to its section (data, rendered once at publish) -----------------
class FindingBlock(Record):
    type: Literal["finding"] = "finding"
    id: str


class TextBlock(Record):
    type: Literal["text"] = "text"
    text: str


class NoteBlock(Record):
    type: Literal["note"] = "note"
    text: str


class SkippedBlock(Record):
    type: Literal["skipped"] = "skipped"
    title: str
    reason: str


class FailedBlock(Record):
    type: Literal["failed"] = "failed"
    reason: str


class TableColumn(Record):
    key: str
    label: str
    unit: Unit


class TableBlock(Record):
    type: Literal["table"] = "table"
    title: str
    query: str
    columns: tuple[TableColumn, ...]
    rows: tuple[dict[str, Any], ...]


class ChartSeries(Record):
    kind: Literal["bar", "line"]
    values: tuple[float | None, ...]
    name: str = ""  # the legend entry (when empty, the chart's caption says which series is which)


class ChartSpec(Record):
    """A chart as data; the report draws it (Mermaid in markdown)."""

    title: str
    labels: tuple[str, ...]
    series: tuple[ChartSeries, ...]
    y_title: str = ""
    digits: int = 1


class ChartBlock(Record):
    type: Literal["chart"] = "chart"
    title: str  # the caption
    query: str
    spec: ChartSpec


Block = Annotated[FindingBlock | TextBlock | NoteBlock | SkippedBlock | FailedBlock | TableBlock | ChartBlock,
                  Field(discriminator="type")]


class StepRecord(Record):
    """One finished step of an agent: its blocks in order, the ids it produced, how it went."""

    agent: str
    step: str
    index: int
    kind: StepKind
    status: Literal["done", "failed"] = "done"
    blocks: tuple[Block, ...] = ()
    finding_ids: tuple[str, ...] = ()
    query_ids: tuple[str, ...] = ()
    elapsed_ms: float = 0.0
    error: str | None = None


class AgentProgress(Record):
    """What an agent already produced in an interrupted run (its finished steps and their records), handed
    back to it when the run resumes, so it continues after them instead of starting over."""

    steps: tuple[StepRecord, ...] = ()
    findings: tuple[Finding, ...] = ()
    queries: tuple[Query, ...] = ()

    def done(self, step: str) -> bool:
        return any(s.step == step and s.status == "done" for s in self.steps)


class ReportStats(Record):
    queries: int = 0
    findings: int = 0
    model_calls: int = 0
    tokens: int = 0
    model_cost: float = 0.0
    ungrounded_numbers: int = 0
    duration_s: float = 0.0
    #: AI steps whose model answer was not used (the offline analyst wrote them): agent keys, "synthesize" last
    fallback_steps: tuple[str, ...] = ()
    model_fallbacks: int = 0


class ReportFile(Record):
    """Where publish wrote the report, and its accounting."""

    path: str
    latest: str
    stats: ReportStats
    html: str | None = None  # the HTML rendering beside it, when the run's formats ask for one
    html_latest: str | None = None


class RunRecords(Record):
    """Everything a report is rendered from: the run, the data profile and what the steps produced."""

    run: RunMeta
    profile: Profile | None = None
    queries: tuple[Query, ...] = ()
    findings: tuple[Finding, ...] = ()
    steps: tuple[StepRecord, ...] = ()
    analyses: dict[str, AgentAnalysis] = Field(default_factory=dict)
    summary: Summary | None = None
    #: set once the report is published (stored runs): its accounting as written, so a later rendering
    #: (``finmatch report html RUN_ID``) shows the same duration and counts
    report: ReportFile | None = None


#: the record types the checkpointer may rebuild (LangGraph's msgpack allow-list)
CHECKPOINT_TYPES: tuple[type[Record], ...] = (
    Query, Finding, ColumnProfile, QualityFlag, TableSummary, Profile, AssumptionValue, RunSnapshot, RunMeta,
    Estimate, Tradeoff, Insight, Recommendation, AgentAnalysis, Summary, FindingBlock, TextBlock, NoteBlock,
    SkippedBlock, FailedBlock, TableColumn, TableBlock, ChartSeries, ChartSpec, ChartBlock, StepRecord, AgentProgress,
    ReportStats, ReportFile,
)
