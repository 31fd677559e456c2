"""Tools a model may call, defined once: a name, a description, a pydantic model of the arguments and a
handler. The analysts' AI steps and the chat share the data tools (``run_sql``, ``describe_table``); the
chat adds its own through the same :class:`Tool` type.

Every argument is validated before a handler runs: a model that sends ``'high'`` for a number or 10 MB of
SQL gets a tool error back, never a crash. Results are JSON text, PII masked, capped in rows and size.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from finmatch_agents.errors import FinMatchError

if TYPE_CHECKING:
    from finmatch_agents.llm.pii import Masker
    from finmatch_agents.warehouse.engine import QueryResult

#: largest SQL text a model may send (the guard refuses deeper or longer statements anyway)
MAX_SQL_CHARS = 20_000
#: largest tool result handed back to a model
MAX_RESULT_CHARS = 8_000


class ToolArgs(BaseModel):
    model_config = ConfigDict(extra="ignore")


class NoArgs(ToolArgs):
    pass


class SqlArgs(ToolArgs):
    sql: str = Field(max_length=MAX_SQL_CHARS, description="One read-only SELECT in DuckDB SQL.")
    purpose: str = Field(default="model query", max_length=500, description="Why you run it, in a few words.")


class TableArgs(ToolArgs):
    table: str = Field(max_length=200)


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args: type[ToolArgs]
    run: Callable[[Any], str]

    def spec(self) -> dict[str, Any]:
        """The OpenAI tool definition (JSON schema of the arguments)."""
        schema = self.args.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        schema.setdefault("properties", {})
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": schema}}

    def call(self, raw: Any) -> str:
        """Validate the model's arguments, run the handler; every failure is a tool error text."""
        if not isinstance(raw, dict):
            return f"invalid arguments for {self.name}: expected a JSON object"
        try:
            args = self.args.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                                 for e in exc.errors()[:5])
            return f"invalid arguments for {self.name}: {problems}"
        try:
            return self.run(args)[:MAX_RESULT_CHARS]
        except FinMatchError as exc:
            return f"not done: {exc.message}"


@dataclass
class DataAccess:
    """What the data tools reach: the sandbox (through ``run_sql``), the catalogue and the PII masker."""

    run_sql: Callable[[str, str, int], QueryResult]  # (sql, purpose, max_rows)
    tables: Sequence[str]
    describe: Callable[[str], list[tuple[str, str]]]
    masker: Masker
    max_rows: int = 50
    on_query: Callable[[QueryResult], None] | None = None
    query_ids: list[str] = field(default_factory=list)

    def rows_json(self, sql: str, result: QueryResult) -> str:
        """The masked result as JSON that fits :data:`MAX_RESULT_CHARS`: rows are dropped from the end (and
        ``truncated`` set) rather than the text cut, so the model always reads valid JSON."""
        rows = self.masker.rows(sql, result.columns, result.rows)

        def dump(n: int) -> str:
            return json.dumps({"query_id": result.id, "columns": result.columns, "rows": rows[:n],
                               "truncated": result.truncated or n < len(rows)}, default=str)

        text = dump(len(rows))
        if len(text) <= MAX_RESULT_CHARS:
            return text
        low, high = 0, len(rows)  # dump(low) fits, dump(high) does not
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if len(dump(mid)) <= MAX_RESULT_CHARS else (low, mid)
        return dump(low)


def data_tools(access: DataAccess) -> list[Tool]:
    """``run_sql`` and ``describe_table`` over the sandbox."""

    def run_sql(args: SqlArgs) -> str:
        try:
            result = access.run_sql(args.sql, args.purpose[:120] or "model query", access.max_rows)
        except FinMatchError as exc:
            return f"query not run: {access.masker.text(exc.message)}"
        access.query_ids.append(result.id)
        if access.on_query is not None:
            access.on_query(result)
        return access.rows_json(args.sql, result)

    def describe(args: TableArgs) -> str:
        if args.table not in access.tables:
            return f"unknown table {args.table!r}; tables: {', '.join(access.tables)}"
        return json.dumps({"table": args.table,
                           "columns": [{"name": n, "type": t} for n, t in access.describe(args.table)]})

    return [
        Tool("run_sql", "Run one read-only SELECT (DuckDB SQL) on the bank data to check a fact.", SqlArgs, run_sql),
        Tool("describe_table", "List the columns and types of a table.", TableArgs, describe),
    ]
