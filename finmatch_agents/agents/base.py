"""How an agent is declared and how its steps become LangGraph nodes.

An agent module declares an :class:`AgentSpec`: its workflow steps (names and order from the FinMatch
document), a function per data step, and rules that tell the offline analyst how to read each kind of
finding. Data steps talk to a :class:`StepContext` only: run named SQL, record findings, add tables,
charts and notes. Every number a step writes comes from a query result it ran.

``build_agent_graph`` turns a spec into a subgraph whose nodes are the steps, in order.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

# LangGraph reads node annotations at runtime (get_type_hints), so these imports cannot be type-only.
from langgraph.runtime import Runtime  # noqa: TC002

from finmatch_agents.errors import FinMatchError, Interrupted, ModelError
from finmatch_agents.evidence import Finding, QueryLog, QueryRecord
from finmatch_agents.llm.analyst import AgentAnalysis, AnalysisContext, RuleOutput
from finmatch_agents.state import AgentState, RunContext
from finmatch_agents.trace import make_event
from finmatch_agents.warehouse import named

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph

    from finmatch_agents.warehouse.engine import QueryResult

#: how many query / finding ids one agent may use (its block: Q101-Q199 for the first agent...)
BLOCK_SIZE = 100
Emit = Callable[[dict[str, Any]], None]
Rule = Callable[[Finding, "FindingIndex"], RuleOutput | None]


class RunCancelled(Interrupted):
    """Raised inside a node when the run was asked to stop (Ctrl-C, SIGTERM)."""


@dataclass(frozen=True)
class StepSpec:
    name: str
    kind: str  # data | ai | report
    about: str  # what the FinMatch document says the step does
    run: Callable[[StepContext], None] | None = None


@dataclass(frozen=True)
class AgentSpec:
    key: str  # performance | optimization | financial-impact | strategy
    title: str
    block: int  # first id number minus one (100 -> Q101, F101)
    challenge: str
    solution: str
    steps: tuple[StepSpec, ...]
    rules: Mapping[str, Rule] = field(default_factory=dict)

    @property
    def prompt_name(self) -> str:
        return self.key


class FindingIndex:
    """Findings of one agent by key, so a rule can relate one finding to another."""

    def __init__(self, findings: list[Finding]) -> None:
        self.all = findings
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


def ref(*results: QueryResult | QueryRecord | str | None) -> str:
    """``[Q103]`` references for query results (or ids)."""
    ids = []
    for r in results:
        if r is None:
            continue
        qid = r if isinstance(r, str) else r.id
        if qid not in ids:
            ids.append(qid)
    return " ".join(f"[{i}]" for i in ids)


class StepContext:
    """What a data step can do; collects its findings, report blocks and queries."""

    def __init__(self, spec: AgentSpec, step: StepSpec, state: AgentState, ctx: RunContext, emit: Emit,
                 log: QueryLog) -> None:
        self.spec, self.step, self.ctx, self.emit, self.log = spec, step, ctx, emit, log
        self.run_id = state["run"]["run_id"]
        self.profile: dict[str, Any] = state.get("profile", {})
        self.table_name: str = state["run"]["table"]
        self.assumptions = ctx.assumptions
        self.prior_findings = [Finding.from_dict(f) for f in state.get("findings", [])]
        self.findings: list[Finding] = []
        self.blocks: list[dict[str, Any]] = []
        self._next_finding = spec.block + 1 + len(self.prior_findings)
        catalog: dict[str, list[str]] = self.profile.get("catalog", {})
        self.present: set[str] = set(self.profile.get("present", [])) | {
            f"{t}.{c}" for t, cols in catalog.items() for c in cols}

    @property
    def min_group(self) -> int:
        return int(self.assumptions["min_group_size"])

    def has(self, *columns: str) -> bool:
        return all(c in self.present for c in columns)

    def params(self) -> dict[str, Any]:
        return {"table": self.table_name, "products": "products", **self.assumptions.params()}

    # -- evidence ----------------------------------------------------------------------------------------
    def sql(self, name: str, *, what: str | None = None, **params: Any) -> QueryResult | None:
        """Run a named query; when a column it needs is absent, note that in the report and return None."""
        query = named.load(name)
        res = named.run(self.ctx.engine, self.log, name, present=self.present, **{**self.params(), **params})
        if isinstance(res, named.Skipped):
            self.skipped(what or query.title, res.reason)
            return None
        return res

    def finding(self, key: str, title: str, statement: str, values: dict[str, Any],
                queries: list[QueryResult | QueryRecord | str], *, effect: float = 0.0,
                confidence: float | None = None, polarity: str = "neutral", n: Any = None) -> Finding:
        ids = tuple(dict.fromkeys(q if isinstance(q, str) else q.id for q in queries))
        refs = ref(*ids)
        text = statement if not refs or refs in statement else f"{statement} {refs}"
        conf = confidence if confidence is not None else (confidence_from_n(n) if n is not None else 1.0)
        found = Finding(id=f"F{self._next_finding}", agent=self.spec.key, step=self.step.name, key=key, title=title,
                        statement=text, values=values, query_ids=ids, effect=round(float(effect), 4),
                        confidence=round(conf, 4), polarity=polarity)
        self._next_finding += 1
        self.findings.append(found)
        self.blocks.append({"type": "finding", "id": found.id})
        self.emit(make_event("finding", self.run_id, self.spec.key, self.step.name, finding_id=found.id,
                             title=title, statement=text))
        return found

    # -- report blocks -----------------------------------------------------------------------------------
    def text(self, markdown: str) -> None:
        self.blocks.append({"type": "text", "text": markdown})

    def note(self, markdown: str) -> None:
        self.blocks.append({"type": "note", "text": markdown})

    def skipped(self, what: str, reason: str) -> None:
        self.blocks.append({"type": "skipped", "title": what, "reason": reason})

    def table(self, title: str, result: QueryResult | str, columns: list[tuple[str, str, str]],
              rows: list[dict[str, Any]] | None = None) -> None:
        """A table of ``rows`` (default: the whole result); ``columns`` are (key, heading, unit).

        ``result`` may be a query id (e.g. one of the profile's queries) when ``rows`` are given.
        """
        if isinstance(result, str):
            if rows is None:
                raise ValueError("rows are required when the table cites a query id")
            data, qid = rows, result
        else:
            data, qid = (rows if rows is not None else result.dicts()), result.id
        self.blocks.append({"type": "table", "title": title, "query": qid,
                            "columns": [{"key": k, "label": label, "unit": unit} for k, label, unit in columns],
                            "rows": [{k: row.get(k) for k, _, _ in columns} for row in data]})

    def chart(self, title: str, mermaid: str, result: QueryResult) -> None:
        self.blocks.append({"type": "chart", "title": title, "query": result.id, "mermaid": mermaid})


def analysis_context(sc: StepContext, state: AgentState, emit: Emit) -> AnalysisContext:
    """What the AI step's analyst may use: this agent's evidence, the profile, and the sandbox for tools."""
    engine = sc.ctx.engine
    own = list(state.get("context_queries", [])) + list(state.get("queries", []))
    run = state["run"]

    def evidence() -> list[dict[str, Any]]:
        return own + [q.to_dict() for q in sc.log.records]

    def run_sql(sql: str, purpose: str, max_rows: int) -> QueryResult:
        return engine.query(sql, log=sc.log, title=f"Model query: {purpose}", max_rows=max_rows)

    def on_model_query(result: QueryResult) -> None:
        sc.finding("model_query", "Query requested by the model",
                   f"The model checked the data with an additional query ({result.record.rows} rows).",
                   {"rows": result.record.rows}, [result])

    return AnalysisContext(
        run_id=sc.run_id, agent=sc.spec.key, step=sc.step.name, currency=run.get("currency", "USD"), emit=emit,
        evidence=evidence, extra_evidence=[state.get("profile", {}), run.get("assumptions", [])], run_sql=run_sql,
        tables=engine.tables(), describe=lambda t: [(c.name, c.type) for c in engine.columns(t)],
        on_model_query=on_model_query, cancelled=sc.ctx.cancel.is_set)


def node_name(step: StepSpec) -> str:
    return step.name


def _step_record(spec: AgentSpec, index: int, step: StepSpec, status: str, blocks: list[dict[str, Any]],
                 findings: list[Finding], log: QueryLog, elapsed_ms: float, error: str | None = None
                 ) -> dict[str, Any]:
    return {"agent": spec.key, "step": step.name, "index": index, "kind": step.kind, "status": status,
            "blocks": blocks, "finding_ids": [f.id for f in findings], "query_ids": [q.id for q in log.records],
            "elapsed_ms": round(elapsed_ms, 1), "error": error}


def make_step_node(spec: AgentSpec, index: int, step: StepSpec) -> Callable[..., dict[str, Any]]:
    from finmatch_agents.report.sections import render_agent_section

    def node(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        ctx = runtime.context
        if ctx.cancel.is_set():
            raise RunCancelled("run cancelled before this step")
        emit: Emit = runtime.stream_writer
        run_id = state["run"]["run_id"]
        started = time.perf_counter()
        emit(make_event("step_started", run_id, spec.key, step.name, index=index, kind=step.kind,
                        total_steps=len(spec.steps)))
        used = len(state.get("queries", []))

        def on_query(record: QueryRecord) -> None:
            emit(make_event("query", run_id, spec.key, step.name, query_id=record.id, title=record.title,
                            status=record.status, rows=record.rows, elapsed_ms=record.elapsed_ms,
                            tables=list(record.tables)))

        log = QueryLog("Q", spec.block + 1 + used, agent=spec.key, step=step.name,
                       sinks=[on_query, *([ctx.audit] if ctx.audit else [])])
        sc = StepContext(spec, step, state, ctx, emit, log)
        update: dict[str, Any] = {}
        status, error = "done", None
        try:
            if step.kind == "data" and step.run is not None:
                step.run(sc)
            elif step.kind == "ai":
                if step.run is not None:  # deterministic SQL the AI step needs (e.g. scenario projections)
                    step.run(sc)
                findings = sc.prior_findings + sc.findings
                actx = analysis_context(sc, state, emit)
                analysis = ctx.analyst.analyze(spec, findings, state.get("profile", {}), actx)
                for warning in analysis.warnings:
                    emit(make_event("warning", run_id, spec.key, step.name, message=warning))
                update["analysis"] = analysis.to_dict()
            elif step.kind == "report":
                analysis = AgentAnalysis.from_dict(state.get("analysis") or {"agent": spec.key, "insights": [],
                                                                             "recommendations": [], "risks": []})
                findings = sc.prior_findings
                section = render_agent_section(spec, state.get("steps", []), analysis, findings,
                                               state.get("queries", []), state["run"].get("currency", "USD"))
                update["sections"] = {spec.key: {"title": spec.title, "markdown": section,
                                                 "analysis": analysis.to_dict()}}
        except (Interrupted, ModelError):  # a stop request, or a model failure with fallback off: end the run
            raise
        except FinMatchError as exc:  # a query failed or timed out: report it, keep going
            if ctx.cancel.is_set():
                raise RunCancelled(str(exc)) from exc
            status, error = "failed", f"{exc.title}: {exc.message}"
            sc.blocks.append({"type": "failed", "reason": error})
            emit(make_event("warning", run_id, spec.key, step.name, message=f"step failed: {error}"))
        except Exception as exc:
            if ctx.cancel.is_set():
                raise RunCancelled(str(exc)) from exc
            status, error = "failed", "".join(traceback.format_exception_only(type(exc), exc)).strip()
            emit(make_event("error", run_id, spec.key, step.name, message=error))
            raise
        elapsed = (time.perf_counter() - started) * 1000
        if used + len(log.records) >= BLOCK_SIZE:
            raise RuntimeError(f"{spec.key} ran more than {BLOCK_SIZE - 1} queries; its ids would overflow")
        record = _step_record(spec, index, step, status, sc.blocks, sc.findings, log, elapsed, error)
        emit(make_event("step_finished", run_id, spec.key, step.name, index=index, status=status,
                        elapsed_ms=record["elapsed_ms"], queries=len(log.records),
                        rows=sum(q.rows for q in log.records), findings=len(sc.findings), error=error))
        return {**update, "queries": [q.to_dict() for q in log.records], "findings": [f.to_dict() for f in sc.findings],
                "steps": [record]}

    node.__name__ = f"{spec.key}_{index}"
    return node


def build_agent_graph(spec: AgentSpec) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The agent's subgraph: one node per workflow step, in document order."""
    from langgraph.graph import END, START, StateGraph

    from finmatch_agents.state import AgentInput, AgentOutput

    graph = StateGraph(AgentState, context_schema=RunContext, input_schema=AgentInput, output_schema=AgentOutput)
    previous = START
    for index, step in enumerate(spec.steps, start=1):
        graph.add_node(node_name(step), make_step_node(spec, index, step))
        graph.add_edge(previous, node_name(step))
        previous = node_name(step)
    graph.add_edge(previous, END)
    return graph.compile(name=spec.key)
