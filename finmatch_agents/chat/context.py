"""What the chat's parts share: the :class:`Answer` they return, its :class:`Table` s, and
:class:`ChatContext`, the session as the commands, verified answers, tools and transcript see it.

The session (``chat/session.py``) implements the protocol and sits on top; everything else depends on the
protocol only, so the chat modules import in one direction.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from finmatch_agents.evidence import jsonable
from finmatch_agents.ids import refs as id_refs
from finmatch_agents.report.markdown import md_escape
from finmatch_agents.units import format_value

if TYPE_CHECKING:
    from finmatch_agents.assumptions import Assumptions
    from finmatch_agents.chat.store import ChatStore
    from finmatch_agents.config import Settings
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.records import Query
    from finmatch_agents.runner import RunRequest, RunResult
    from finmatch_agents.semantic.layer import SemanticLayer
    from finmatch_agents.warehouse.engine import DuckDBEngine, QueryResult
    from finmatch_agents.warehouse.named import Skipped


@dataclass
class Table:
    title: str
    columns: list[tuple[str, str, str]]  # (key, heading, unit)
    rows: list[dict[str, Any]]
    query: str | None = None

    def formatted(self, currency: str, *, markdown: bool = True) -> list[list[str]]:
        """Cells as text: numbers by unit; text escaped for markdown (or as is, for the terminal)."""
        def text(value: Any) -> str:
            return md_escape(value) if markdown else ("" if value is None else str(value))

        return [[text(r.get(k)) if unit == "text" else format_value(r.get(k), unit, currency)
                 for k, _, unit in self.columns] for r in self.rows]


_FENCE = re.compile(r"^```[a-z]*\n?|^```$", re.M)
_CODE = re.compile(r"(`+) ?(.+?) ?\1")
_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1|(?<![\w\\])_(?!\s)(.+?)(?<![\s\\])_(?!\w)")
_ESCAPE = re.compile(r"\\([\\`*_\[\]|~$#+\-=.()!/<>{}])")


def plain_text(markdown: str) -> str:
    """Markdown as plain text (``ask --json`` "text"): no emphasis, code fences, backslash escapes or entities."""
    text = _FENCE.sub("", markdown)
    text = _CODE.sub(lambda m: m.group(2), text)
    text = _EMPHASIS.sub(lambda m: m.group(2) or m.group(3), text)
    text = _ESCAPE.sub(r"\1", text)
    return html.unescape(text).strip()


@dataclass
class Answer:
    kind: str  # verified | compiled | model | command | unavailable | unknown | error | exit
    text: str  # markdown
    tables: list[Table] = field(default_factory=list)
    query_ids: list[str] = field(default_factory=list)
    matched: str | None = None
    streamed: bool = False  # the text was already shown token by token
    exit_code: int = 0  # for `finmatch ask`: the documented code of an error answer
    interpretation: str | None = None  # the question as understood, in one line
    sql: str | None = None  # the compiled statement
    structured: dict[str, Any] | None = None  # the structured query that was answered

    def to_dict(self) -> dict[str, Any]:
        """JSON: "text" is plain text, "markdown" the same answer with its formatting."""
        data = asdict(self)
        data.pop("streamed")
        data["markdown"] = data["text"]
        data["text"] = plain_text(self.text)
        result: dict[str, Any] = jsonable(data)
        return result


def refs(*ids: str | None) -> str:
    return id_refs([i for i in ids if i])


class ChatContext(Protocol):
    """The session, as its parts use it."""

    settings: Settings
    name: str
    model: str
    engine: DuckDBEngine
    log: QueryLog
    store: ChatStore
    assumptions: Assumptions
    on_event: Callable[[dict[str, Any]], None]

    @property
    def present(self) -> set[str]: ...

    @property
    def semantic(self) -> SemanticLayer: ...

    def query(self, sql: str, title: str, max_rows: int | None = None) -> QueryResult: ...

    def named(self, name: str, **params: object) -> QueryResult | Skipped: ...

    def set_model(self, name: str) -> None: ...

    def test_model(self, name: str) -> str | None: ...

    def run_analysis(self, request: RunRequest) -> RunResult: ...

    def queries(self) -> list[Query]: ...
