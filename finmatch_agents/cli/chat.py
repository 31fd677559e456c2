"""``finmatch chat`` (interactive) and ``finmatch ask`` (one question, for scripts)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from finmatch_agents.cli import common

ModelOpt = Annotated[str | None, typer.Option("--model", help="Model for questions the offline compiler cannot "
                                              "answer ('offline' = verified and compiled questions and slash commands "
                                              "only).", envvar="FINMATCH_MODEL",
                                              show_default=False, metavar="NAME")]


def chat(
    model: ModelOpt = None,
    session: Annotated[str | None, typer.Option("--session", help="Resume (or start) this named session.",
                                                show_default=False, metavar="NAME")] = None,
    list_sessions: Annotated[bool, typer.Option("--list", help="List saved sessions and exit.")] = False,
    db: common.DbOpt = None,
    engine_name: common.EngineOpt = None,
) -> None:
    """Ask questions about the data in a conversation: slash commands, verified questions, or a model.

    Every query runs through the SQL sandbox. Ctrl-C cancels the current answer; Ctrl-D or /exit leaves.
    """
    from finmatch_agents.chat.session import ChatSession
    from finmatch_agents.cli.repl import run_repl

    s = common.settings(db=db, engine=engine_name, model=model)
    if list_sessions:
        _list(s)
        return
    name = session or "chat-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    console = common.out()
    from finmatch_agents.cli.repl import trace_printer

    chat_session = ChatSession(s, name, on_event=trace_printer(common.err()),
                               notify=lambda m: common.err().print(m, markup=False))
    try:
        code = run_repl(chat_session, console)
    finally:
        chat_session.close()
    raise typer.Exit(code)


def _list(s: object) -> None:
    from rich.table import Table

    from finmatch_agents.chat.store import ChatStore

    store = ChatStore(s.state_dir / "chat.sqlite")  # type: ignore[attr-defined]
    try:
        sessions = [row for row in store.sessions() if row["turns"]]  # a session nobody asked anything in is noise
    finally:
        store.close()
    if not sessions:
        common.out().print("No chat sessions yet.")
        return
    view = Table(title="Chat sessions", title_justify="left")
    for col in ("session", "turns", "model", "updated (UTC)"):
        view.add_column(col)
    for row in sessions:
        view.add_row(row["name"], str(row["turns"]), row["model"] or "", row["updated_at"][:16].replace("T", " "))
    common.out().print(view)


def ask(
    question: Annotated[str, typer.Argument(help="The question (or a /command).", show_default=False)],
    model: ModelOpt = None,
    session: Annotated[str, typer.Option("--session", help="Session to record the question in.",
                                         metavar="NAME")] = "ask",
    db: common.DbOpt = None,
    engine_name: common.EngineOpt = None,
    json_out: common.JsonOpt = False,
) -> None:
    """Answer one question non-interactively (the same answer the chat gives), e.g. for scripts."""
    from finmatch_agents.chat.session import ChatSession
    from finmatch_agents.cli.repl import render_answer

    common.want_json(json_out)
    s = common.settings(db=db, engine=engine_name, model=model)
    chat_session = ChatSession(s, session, notify=lambda m: common.err().print(m, markup=False))
    try:
        answer = chat_session.ask(question)
    finally:
        chat_session.close()
    if json_out:
        common.emit_json({"question": question, "session": session, **answer.to_dict()})
    else:
        render_answer(common.out(), answer, s.currency)
    if answer.exit_code:
        raise typer.Exit(answer.exit_code)
