"""``/save``: a chat session as a markdown report with the same provenance appendix as analyses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from finmatch_agents.chat.context import ChatContext, Table
from finmatch_agents.files import atomic_write_text
from finmatch_agents.report.document import render_appendix
from finmatch_agents.report.markdown import md_escape, prose, table


def render_transcript(session: ChatContext) -> str:
    turns = session.store.turns(session.name)
    queries = session.queries()
    front = {"session": session.name, "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
             "model": session.model, "db": str(session.settings.db), "turns": len(turns), "queries": len(queries)}
    out = ["---", *(f"{k}: {json.dumps(v)}" for k, v in front.items()), "---", "",
           f"# FinMatch chat session {md_escape(session.name)}", ""]
    for turn in turns:
        answer = turn["answer"]
        out += [f"## {md_escape(turn['question'])}", "", f"_{turn['created_at']} · {md_escape(answer['kind'])}_", ""]
        # our own answers are built from escaped values; a model's text is untrusted and is escaped here
        text = answer.get("markdown", answer["text"])  # sessions saved before "markdown" existed kept it in "text"
        out += [prose(text) if answer["kind"] == "model" else text, ""]
        for t in answer.get("tables", []):
            tbl = Table(t["title"], [(c[0], c[1], c[2]) for c in t["columns"]], t["rows"], t.get("query"))
            headings = [label for _k, label, _u in tbl.columns]
            ref = f" [{tbl.query}]" if tbl.query else ""
            out += [f"**{md_escape(tbl.title)}**{ref}", "",
                    table(headings, tbl.formatted(session.settings.currency), raw=True), ""]
    out += render_appendix(tuple(queries))
    return "\n".join(out).rstrip() + "\n"


def save_transcript(session: ChatContext, path: Path | None = None) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target = path or session.settings.reports_dir / "chat" / f"{session.name}-{stamp}.md"
    atomic_write_text(target, render_transcript(session))
    return target
