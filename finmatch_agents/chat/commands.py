"""Slash commands. They work with or without a model and every query goes through the sandbox."""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Callable
from pathlib import Path

from finmatch_agents.chat.answers import help_text
from finmatch_agents.chat.context import Answer, ChatContext, Table, refs
from finmatch_agents.chat.transcript import save_transcript
from finmatch_agents.data.schema import column as dictionary_column
from finmatch_agents.errors import FinMatchError, Interrupted, UsageError
from finmatch_agents.explore import check_where, choose_columns, fetch_page
from finmatch_agents.formatting import is_number
from finmatch_agents.metrics import compute_dashboard
from finmatch_agents.report.markdown import code, md_escape
from finmatch_agents.runner import RunRequest, resolve_focus
from finmatch_agents.runs import RunStore
from finmatch_agents.semantic.describe import dimension_rows, measure_rows
from finmatch_agents.units import format_value

COMMANDS = ("/help", "/tables", "/describe", "/sql", "/metrics", "/analyze", "/explore", "/history", "/report",
            "/save", "/model", "/exit", "/quit")


def run_command(session: ChatContext, line: str) -> Answer:
    name, _, rest = line.strip().partition(" ")
    name, rest = name.lower(), rest.strip()
    handlers: dict[str, Callable[[ChatContext, str], Answer]] = {
        "/help": lambda s, r: Answer("command", help_text()), "/tables": tables, "/describe": describe, "/sql": sql,
        "/metrics": metrics, "/analyze": analyze, "/explore": explore, "/history": history, "/report": report,
        "/save": save, "/model": model, "/exit": lambda s, r: Answer("exit", "Bye."),
        "/quit": lambda s, r: Answer("exit", "Bye.")}
    handler = handlers.get(name)
    if handler is None:
        close = difflib.get_close_matches(name, COMMANDS, n=1, cutoff=0.6) or [
            c for c in COMMANDS if c.startswith(name[:3])]
        guess = f" Did you mean `{close[0]}`?" if close else ""
        return Answer("error", f"Unknown command {code(name)}.{guess} `/help` lists the commands.")
    try:
        return handler(session, rest)
    except Interrupted:
        raise
    except FinMatchError as exc:
        hint = f" ({md_escape(exc.hint)})" if exc.hint else ""
        return Answer("error", f"**{md_escape(exc.title)}:** {md_escape(exc.message)}{hint}", exit_code=exc.exit_code)


def tables(session: ChatContext, rest: str) -> Answer:
    rows = []
    ids = []
    for table in session.engine.tables():
        res = session.query(f'SELECT count(*) AS n FROM "{table}"', f"Rows in {table}")
        rows.append({"table": table, "rows": res.scalar(), "columns": len(session.engine.columns(table))})
        ids.append(res.id)
    return Answer("command", f"{len(rows)} tables. {refs(*ids)}",
                  [Table("Tables", [("table", "Table", "text"), ("rows", "Rows", "count"), ("columns", "Columns",
                                                                                            "count")], rows)], ids)


def describe(session: ChatContext, rest: str) -> Answer:
    if not rest:
        return describe_model(session)
    layer = session.semantic
    if rest in layer.model.measures or rest in layer.model.dimensions:
        return describe_model(session, rest)
    table = rest
    if table not in session.engine.tables():
        raise UsageError(f"/describe: no table '{table}' (tables: {', '.join(session.engine.tables())})")
    rows = []
    for col in session.engine.columns(table):
        known = dictionary_column(table, col.name)
        rows.append({"column": col.name, "type": col.type, "meaning": known.description if known else "",
                     "rules": known.rules if known else ""})
    return Answer("command", f"{code(table)} has {len(rows)} columns.",
                  [Table(f"Columns of {table}", [("column", "Column", "text"), ("type", "Type", "text"),
                                                 ("meaning", "Meaning", "text"), ("rules", "Rules", "text")], rows)])


MEASURE_COLUMNS = [("name", "Measure", "text"), ("label", "Label", "text"), ("unit", "Unit", "text"),
                   ("level", "Counted per", "text"), ("meaning", "Meaning", "text")]
DIMENSION_COLUMNS = [("name", "Dimension", "text"), ("label", "Label", "text"), ("column", "Column", "text"),
                     ("values", "Values", "text")]


def describe_model(session: ChatContext, name: str | None = None) -> Answer:
    """The semantic model (measures, dimensions, values learned from this data), or one of its entries."""
    layer = session.semantic
    model = layer.model
    present = set(layer.vocab.present)
    if name in model.measures:
        m = model.measures[name]
        sql = f"per customer {code(m.per_customer)}, then {code(m.sql)}" if m.per_customer else code(m.sql)
        return Answer("command", f"**{md_escape(m.label)}** ({m.unit}): {md_escape(m.description)}\n\nSQL: {sql}\n\n"
                                 f"Words: {md_escape(', '.join(m.synonyms + m.nouns))}")
    if name in model.dimensions:
        row = next(r for r in dimension_rows(model, layer) if r["name"] == name)
        return Answer("command", f"**{md_escape(row['label'])}** (column {code(row['column'])}, per "
                                 f"{row['level']}): {md_escape(row['values'])}\n\nWords: {md_escape(row['synonyms'])}")
    measures = [r for r in measure_rows(model) if not model.absent(present, r["name"])]
    dims = [r for r in dimension_rows(model, layer) if not model.absent(present, r["name"])]
    span = (f"; {md_escape(model.time_label)} from {layer.vocab.first_day} to {layer.vocab.last_day}"
            if layer.vocab.first_day else "; this data has no dates")
    return Answer("command", f"The semantic model of this data: {len(measures)} measures, {len(dims)} dimensions"
                  f"{span}. `/describe NAME` shows one; `/describe TABLE` the columns of a table.",
                  [Table("Measures", MEASURE_COLUMNS, measures), Table("Dimensions", DIMENSION_COLUMNS, dims)])


def sql(session: ChatContext, rest: str) -> Answer:
    if not rest:
        raise UsageError("/sql needs a statement, e.g. /sql SELECT channel, count(*) FROM fpr_records GROUP BY 1")
    res = session.query(rest, "chat /sql", max_rows=200)
    columns = [(c, c, _unit(res.rows, i)) for i, c in enumerate(res.columns)]
    note = " (truncated at the row cap)" if res.truncated else ""
    return Answer("command", f"{len(res.rows)} row(s){note}. {refs(res.id)}",
                  [Table("Result", columns, res.dicts(), res.id)], [res.id])


def _unit(rows: list[tuple[object, ...]], i: int) -> str:
    """"count" for whole numbers (shown without decimals), "number" for other numbers, else "text"."""
    values = [r[i] for r in rows if r[i] is not None]
    if not values or not all(is_number(v) for v in values):
        return "text"
    return "count" if all(isinstance(v, int) for v in values) else "number"


def metrics(session: ChatContext, rest: str) -> Answer:
    before = len(session.log.records)
    cur = session.settings.currency
    d = compute_dashboard(session.engine, session.log, table=session.settings.table, currency=cur)
    rows = [{"metric": m.label, "value": format_value(m.value, m.unit, cur), "query": m.query_id}  # each in its unit
            for m in [*d.kpis, *d.financial] if not m.absent]
    table = Table("Key metrics", [("metric", "Metric", "text"), ("value", "Value", "text"),
                                  ("query", "Query", "text")], rows)
    ids = [q.id for q in session.log.records[before:]]
    return Answer("command", f"The metrics dashboard. {refs(*ids)}", [table], ids)


def analyze(session: ChatContext, rest: str) -> Answer:
    args = shlex.split(rest)
    resume = None
    if args[:1] == ["--resume"]:
        if len(args) < 2:
            raise UsageError("/analyze --resume RUN_ID")
        resume, args = args[1], []
    request = RunRequest(focus=resolve_focus(args or ["all"]), resume=resume)
    result = session.run_analysis(request)
    summary = result.state.get("summary")
    lines = [f"Run {result.run_id} finished: report {code(result.report_path)}."]
    if summary is not None:
        lines += [f"- {md_escape(h)}" for h in summary.headline]
        lines += [f"- {md_escape(r.title)} ({r.impact} impact, {r.effort} effort, {r.horizon})"
                  for r in summary.recommendations[:5]]
    return Answer("command", "\n".join(lines))


def explore(session: ChatContext, rest: str) -> Answer:
    table, _, condition = rest.partition(" ")
    if table and table not in session.engine.tables():
        table, condition = session.settings.table, rest
    table = table or session.settings.table
    columns = choose_columns(None, [c.name for c in session.engine.columns(table)], table, json_out=False)
    page = fetch_page(session.engine, session.log, table, columns, check_where(condition or None), 1, 20)
    cols = [(c, c, _unit(page.rows, i)) for i, c in enumerate(page.columns)]
    rows = [dict(zip(page.columns, r, strict=True)) for r in page.rows]
    return Answer("command", f"Rows 1-{len(rows)} of {page.total:,} in {code(table)}. {refs(*page.query_ids)}",
                  [Table(table, cols, rows, page.query_ids[-1])], list(page.query_ids))


def history(session: ChatContext, rest: str) -> Answer:
    store = RunStore(session.settings.state_dir / "runs.sqlite")
    try:
        runs = [r.data for r in store.list_runs(10)]
    finally:
        store.close()
    if not runs:
        return Answer("command", "No runs yet: `/analyze` starts one.")
    rows = [{"run": r["run_id"], "status": r["status"], "created": r["created_at"][:16], "report": r["report_path"]}
            for r in runs]
    return Answer("command", f"The {len(rows)} most recent runs.",
                  [Table("Runs", [("run", "Run", "text"), ("status", "Status", "text"), ("created", "Created (UTC)",
                                                                                      "text"),
                                  ("report", "Report", "text")], rows)])


def report(session: ChatContext, rest: str) -> Answer:
    store = RunStore(session.settings.state_dir / "runs.sqlite")
    try:
        row = store.get(rest) if rest else next((r for r in store.list_runs(50)
                                                 if r["status"] == "completed"), None)
    finally:
        store.close()
    if row is None or not row["report_path"]:
        raise UsageError(f"/report: no completed run {rest}".strip(), hint="`/history` lists runs")
    path = Path(row["report_path"])
    if not path.exists():
        raise UsageError(f"/report: the report file {path} is gone")
    text = path.read_text(encoding="utf-8")
    start = text.find("## Executive summary")
    end = text.find("\n## ", start + 5)
    summary = text[start:end if end > 0 else None].strip() if start >= 0 else text[:3000]
    return Answer("command", f"{summary}\n\nFull report: {code(path)} (run {row['run_id']}).")


def save(session: ChatContext, rest: str) -> Answer:
    path = save_transcript(session, Path(rest) if rest else None)
    return Answer("command", f"Session saved to {code(path)}.")


def model(session: ChatContext, rest: str) -> Answer:
    if not rest:
        return Answer("command", f"Model: {code(session.model)}. `/model NAME` switches (see "
                                 "`finmatch models list`); `offline` answers verified questions only.")
    problem = session.test_model(rest)  # raises a UsageError for unknown names
    if problem:
        return Answer("error", f"Model {code(rest)} did not answer ({md_escape(problem)}); still using "
                               f"{code(session.model)}.", exit_code=4)
    session.set_model(rest)
    return Answer("command", f"Model set to {code(session.model)}.")
