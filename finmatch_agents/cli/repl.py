"""The interactive chat: prompt_toolkit input, Rich output, a compact trace of the queries each answer ran.

On a terminal: persistent input history, completion of slash commands, tables and columns, Esc-Enter for a
new line, model tokens streamed as they arrive. Ctrl-C cancels the answer being written or the analysis being
run (not the session); Ctrl-D or /exit leaves. Without a terminal (piped input) each input line is one question.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.history import FileHistory
from prompt_toolkit.key_binding import KeyBindings
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table as RichTable
from rich.text import Text

from finmatch_agents.chat.commands import COMMANDS
from finmatch_agents.errors import FinMatchError

if TYPE_CHECKING:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document
    from rich.console import Console

    from finmatch_agents.chat.context import Answer
    from finmatch_agents.chat.context import Table as ChatTable
    from finmatch_agents.chat.session import ChatSession

PROMPT = "finmatch> "


def answer_table(table: ChatTable, currency: str) -> RichTable:
    """A result table: cells formatted by unit, figures (every unit but text and dates) aligned right."""
    view = RichTable(title=table.title, title_justify="left")
    for _key, label, unit in table.columns:
        view.add_column(Text(str(label)), justify="left" if unit in ("text", "date") else "right", overflow="fold")
    for row in table.formatted(currency, markdown=False):
        view.add_row(*[Text(cell) for cell in row])
    return view


def render_answer(console: Console, answer: Answer, currency: str) -> None:
    if answer.streamed:
        console.print()
    elif answer.text:
        console.print(Markdown(answer.text))
    for table in answer.tables:
        console.print(answer_table(table, currency))


def trace_printer(console: Console) -> Any:
    """A compact line per query / model call, printed while an answer is being worked out."""
    def on_event(event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "query":
            if event["status"] == "ok":
                console.print(f"  [dim]⚙ {event['query_id']} {event['title']} · {event['rows']:,} row(s) · "
                              f"{event['elapsed_ms']:.0f} ms[/]", highlight=False, markup=True)
            else:
                console.print(f"  [red]⚙ {event['query_id']} {event['status']}[/] [dim]{event.get('rule') or ''} "
                              f"{event['title']}[/]", highlight=False)
        elif kind == "model_call":
            tokens = event.get("total_tokens")
            detail = f"{tokens:,} tokens" if tokens else (event.get("error") or "")
            console.print(f"  [dim]◆ model {event.get('model')} · {event.get('status')} · "
                          f"{event.get('latency_ms', 0):.0f} ms · {detail}[/]", highlight=False)
        elif kind == "warning":
            console.print(f"  [yellow]warning: {event.get('message', '')}[/]", highlight=False, markup=True)
        elif str(kind).startswith("analysis_"):
            what = kind.removeprefix("analysis_")  # type: ignore[union-attr]
            where = " | ".join(p for p in (event.get("agent"), event.get("step")) if p)
            console.print(f"  [dim]▸ {what} {where} {event.get('path') or event.get('message') or ''}[/]",
                          highlight=False)

    return on_event


class ChatCompleter:
    """Slash commands at the start of a line; table and column names elsewhere."""

    def __init__(self, session: ChatSession) -> None:
        self.commands = COMMANDS
        self.tables = session.engine.tables()
        self.columns = sorted({c.name for t in self.tables for c in session.engine.columns(t)})

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        text = document.text_before_cursor
        word = document.get_word_before_cursor(WORD=True)
        if text.startswith("/") and " " not in text:
            options: Iterable[str] = self.commands
        elif text.startswith(("/describe ", "/explore ")) and text.count(" ") == 1:
            options = self.tables
        else:
            options = [*self.tables, *self.columns]
        for option in options:
            if word and option.lower().startswith(word.lower()) and option != word:
                yield Completion(option, start_position=-len(word))

    async def get_completions_async(self, document: Document, complete_event: CompleteEvent) -> Any:
        for completion in self.get_completions(document, complete_event):
            yield completion


def _prompt_session(session: ChatSession, history: Path) -> Any:
    class _Completer(ChatCompleter, Completer):  # prompt_toolkit's base class, our behaviour
        pass

    keys = KeyBindings()

    @keys.add("escape", "enter")
    def _newline(event: Any) -> None:
        event.current_buffer.insert_text("\n")

    history.parent.mkdir(parents=True, exist_ok=True)
    return PromptSession(history=FileHistory(str(history)), completer=_Completer(session), key_bindings=keys,
                         complete_while_typing=False)


def run_repl(session: ChatSession, console: Console) -> int:
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    state = "resumed" if session.resumed else "new"
    console.print(f"[bold]FinMatch chat[/] — session [bold]{session.name}[/] ({state}), model {session.model}, "
                  f"{session.settings.db}. /help lists commands; Ctrl-D leaves.", highlight=False)
    prompt = _prompt_session(session, session.settings.state_dir / "chat_history") if interactive else None

    def tokens(token: str) -> None:
        console.file.write(token)
        console.file.flush()

    while True:
        try:
            if prompt is not None:
                line = prompt.prompt(PROMPT)
            else:
                raw = sys.stdin.readline()
                if not raw:
                    break
                line = raw.rstrip("\n")
        except KeyboardInterrupt:  # at the prompt: clear the line, keep the session
            continue
        except EOFError:
            break
        if not line.strip():
            continue
        try:
            answer = session.ask(line, on_token=tokens)
        except KeyboardInterrupt:
            session.engine.interrupt_running()
            console.print("\n[yellow]Answer cancelled.[/] The session goes on.")
            continue
        except FinMatchError as exc:  # one failed answer never ends the session
            console.print(f"[red]{escape(exc.title)}:[/] {escape(exc.message)}", highlight=False)
            continue
        except Exception as exc:
            console.print(f"[red]Unexpected error:[/] {escape(type(exc).__name__)}: {escape(str(exc))}. The session "
                          "goes on (set FINMATCH_DEBUG=1 for a traceback).", highlight=False)
            if os.environ.get("FINMATCH_DEBUG"):
                raise
            continue
        if answer.kind == "exit":
            break
        render_answer(console, answer, session.settings.currency)
    console.print(f"Session {session.name} saved; resume it with `finmatch chat --session {session.name}`.",
                  highlight=False)
    return 0
