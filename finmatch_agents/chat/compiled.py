"""Answers from the question compiler: run the one compiled statement through the sandbox and say the result,
the interpretation in one line and the SQL; or refuse, saying what was understood and what can be asked.

Sentences only use values from the query's result. A comparison says which way the figure moved and, when
the question presumed the other way ("the drop" of something that rose), says so. A breakdown names where a
change happened, never why: the data cannot tell causes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finmatch_agents.chat.context import Answer, Table, refs
from finmatch_agents.report.markdown import md_escape
from finmatch_agents.semantic.compiler import Unavailable
from finmatch_agents.semantic.query import TIME_GROUP
from finmatch_agents.units import format_value

if TYPE_CHECKING:
    from finmatch_agents.chat.context import ChatContext
    from finmatch_agents.semantic.compiler import Compiled
    from finmatch_agents.semantic.layer import SemanticLayer
    from finmatch_agents.semantic.parser import Parse
    from finmatch_agents.semantic.query import StructuredQuery

BREAKDOWN_NAMED = 3


def run_compiled(session: ChatContext, query: StructuredQuery, direction: str | None = None) -> Answer:
    """Compile ``query``, run it (one logged query) and answer from its rows."""
    layer = session.semantic
    try:
        compiled = layer.compile(query)
    except Unavailable as exc:
        return Answer("unavailable", f"I understood the question ({md_escape(query.echo(layer.model))}), but "
                      f"{md_escape(exc.message)}.", interpretation=query.echo(layer.model))
    res = session.query(compiled.sql, f"Compiled question: {compiled.title}")
    rows = res.dicts()
    cur = session.settings.currency
    if query.breakdown:
        text = _breakdown(layer, query, compiled, rows, cur, direction)
    elif query.compare:
        text = _comparison(layer, query, compiled, rows, cur, direction)
    elif compiled.group_keys:
        text = _grouped(layer, query, compiled, rows, cur)
    else:
        text = _scalar(compiled, rows, cur)
    answer = Answer("compiled", "", [Table("Result", compiled.columns, rows, res.id)] if rows else [],
                    [res.id], interpretation=compiled.title, sql=compiled.sql, structured=query.to_json())
    answer.text = (f"{text} {refs(res.id)}\n\n_Understood as: {md_escape(compiled.title)}_\n\n"
                   f"```sql\n{compiled.sql}\n```")
    return answer


def _value(row: dict[str, Any], key: str, columns: list[tuple[str, str, str]], currency: str) -> str:
    unit = next(u for k, _h, u in columns if k == key)
    return format_value(row.get(key), unit, currency)


def _scalar(compiled: Compiled, rows: list[dict[str, Any]], cur: str) -> str:
    if not rows:
        return "No data matches."
    row = rows[0]
    parts = [f"**{_value(row, key, compiled.columns, cur)}** {heading.lower()}" if unit == "count" else
             f"{heading}: **{_value(row, key, compiled.columns, cur)}**" for key, heading, unit in compiled.columns]
    return "; ".join(parts) + "."


def _label(row: dict[str, Any], keys: list[str]) -> str:
    return ", ".join(md_escape(row[k]) for k in keys)


def _grouped(layer: SemanticLayer, q: StructuredQuery, compiled: Compiled, rows: list[dict[str, Any]],
             cur: str) -> str:
    if not rows:
        return "No data matches."
    key = compiled.measure_keys[0]
    measure = layer.model.measures[q.measures[0]]
    groups = ", ".join(g.removeprefix(TIME_GROUP) if g.startswith(TIME_GROUP) else layer.model.dimensions[g].label
                       for g in q.group_by)
    if q.top == 1 or (q.top and len(rows) == 1):
        word = "highest" if q.order != "asc" else "lowest"
        return (f"**{_label(rows[0], compiled.group_keys)}** has the {word} {measure.label} "
                f"({_value(rows[0], key, compiled.columns, cur)}).")
    if q.top:
        word = "Top" if q.order != "asc" else "Bottom"
        listed = "; ".join(f"{_label(r, compiled.group_keys)} {_value(r, key, compiled.columns, cur)}" for r in rows)
        return f"{word} {len(rows)} by {measure.label}: {listed}."
    ranked = sorted((r for r in rows if r.get(key) is not None), key=lambda r: r[key])
    if len(ranked) < 2:
        return f"{measure.label.capitalize()} by {groups}."
    return (f"{measure.label.capitalize()} by {groups} ({len(rows)} groups): highest "
            f"**{_label(ranked[-1], compiled.group_keys)}** ({_value(ranked[-1], key, compiled.columns, cur)}), lowest "
            f"**{_label(ranked[0], compiled.group_keys)}** ({_value(ranked[0], key, compiled.columns, cur)}).")


def _moved(change: Any) -> str:
    if change is None:
        return "could not be compared"
    return "rose" if change > 0 else "fell" if change < 0 else "did not change"


def _presumed(direction: str | None, change: Any) -> str:
    if direction is None or change is None:
        return ""
    if direction == "down" and change >= 0:
        return " It did not drop, so there is no drop to explain."
    if direction == "up" and change <= 0:
        return " It did not rise, so there is no rise to explain."
    return ""


def _comparison(layer: SemanticLayer, q: StructuredQuery, compiled: Compiled, rows: list[dict[str, Any]],
                cur: str, direction: str | None) -> str:
    assert q.compare is not None
    if not rows:
        return "No data matches."
    current, baseline = q.compare
    m = layer.model.measures[q.measures[0]]
    if compiled.group_keys:
        by = ", ".join(g if g.startswith(TIME_GROUP) else layer.model.dimensions[g].label for g in q.group_by)
        return f"{m.label.capitalize()} in {md_escape(current.label)} compared to {md_escape(baseline.label)}, by {by}."
    row = rows[0]
    sentences = []
    for name in q.measures:
        measure = layer.model.measures[name]
        change = row.get(name + "__change")
        sentences.append(
            f"{measure.label.capitalize()} {_moved(change)} from "
            f"**{_value(row, name + '__baseline', compiled.columns, cur)}** in {md_escape(baseline.label)} to "
            f"**{_value(row, name + '__current', compiled.columns, cur)}** in {md_escape(current.label)} "
            f"({_value(row, name + '__change', compiled.columns, cur)}).")
    return " ".join(sentences) + _presumed(direction, row.get(q.measures[0] + "__change"))


def _breakdown(layer: SemanticLayer, q: StructuredQuery, compiled: Compiled, rows: list[dict[str, Any]],
               cur: str, direction: str | None) -> str:
    assert q.compare is not None
    total = next((r for r in rows if r["dimension"] == "(all)"), None)
    if total is None:
        return "No data matches."
    m = layer.model.measures[q.measures[0]]
    current, baseline = q.compare
    key = m.name
    change = total.get(key + "__change")

    def val(row: dict[str, Any], suffix: str) -> str:
        return _value(row, key + suffix, compiled.columns, cur)

    head = (f"{m.label.capitalize()} {_moved(change)} from **{val(total, '__baseline')}** in "
            f"{md_escape(baseline.label)} to **{val(total, '__current')}** in {md_escape(current.label)} "
            f"({val(total, '__change')}).")
    head += _presumed(direction, change)
    movers = [r for r in rows if r["dimension"] != "(all)" and r.get("contribution")][:BREAKDOWN_NAMED]
    if movers:
        named = "; ".join(
            f"{layer.model.dimensions[r['dimension']].label} = {md_escape(r['value'])} "
            f"({_value(r, 'contribution', compiled.columns, cur)} of the change; {m.label} "
            f"{val(r, '__baseline')} → {val(r, '__current')})"
            for r in movers)
        head += f" The groups where most of the change happened: {named}."
    return head + (" These show where the change happened, not why: the data cannot tell what caused it, and a "
                   "group's share mixes its volume and its rate.")


def refusal(session: ChatContext, parse: Parse, *, reason: str = "") -> Answer:
    """An honest "I can't answer that offline": what was not understood, what was, and close questions."""
    layer = session.semantic
    lines = []
    if parse.unknown:
        words = ", ".join(f"“{md_escape(w)}”" for w in dict.fromkeys(parse.unknown))
        lines.append(f"I can't answer that offline: I don't know {words} in this data.")
    else:
        lines.append("I can't answer that offline.")
    lines += [f"- {md_escape(p)}" for p in parse.problems]
    if parse.understood:
        lines.append(f"\nI understood: {md_escape(' · '.join(parse.understood))}.")
    tips = layer.suggestions(parse)
    lines.append(reason or "\nI won't guess. You can run your own query with `/sql SELECT ...`, configure a model "
                 "(`finmatch models list`, then `/model NAME`), or ask one of these:")
    lines += [f"- {md_escape(t)}" for t in tips]
    return Answer("unknown", "\n".join(lines), interpretation=" · ".join(parse.understood) or None)
