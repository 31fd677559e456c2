"""The structured query: what a question asks, in the semantic model's terms. The offline parser and the chat
model (through a tool) both fill it; the compiler turns it into one SQL statement. ``echo`` says it back in
one line ("acceptance rate · channel = Email · 2025") so the reader sees what was answered.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from finmatch_agents.records import Record

if TYPE_CHECKING:
    from finmatch_agents.semantic.model import SemanticModel

TIME_GROUP = "time:"  # group_by entries "time:quarter"... group by a grain of the time column
Op = Literal[">", ">=", "<", "<=", "between"]


class Filter(Record):
    dimension: str
    values: tuple[str, ...] = Field(min_length=1)
    negate: bool = False


class Range(Record):
    attribute: str
    op: Op
    low: float | None = None
    high: float | None = None


class Period(Record):
    start: date
    end: date  # exclusive
    label: str
    partial: bool = False  # the data covers only part of it


class StructuredQuery(Record):
    measures: tuple[str, ...] = Field(min_length=1)
    group_by: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()
    ranges: tuple[Range, ...] = ()
    period: Period | None = None
    compare: tuple[Period, Period] | None = None  # (current, baseline): the change from baseline to current
    breakdown: bool = False  # with compare: which groups moved the change most
    top: int | None = Field(default=None, ge=1, le=100)
    order: Literal["desc", "asc"] | None = None

    def echo(self, model: SemanticModel) -> str:
        """One line: measures, groups, filters, ranges, period ("acceptance rate · channel = Email · 2025")."""
        parts = [", ".join(model.measures[m].label for m in self.measures)]
        if self.group_by:
            parts.append("by " + ", ".join(group_label(model, g) for g in self.group_by))
        for f in self.filters:
            dim = model.dimensions[f.dimension]
            sign = "≠" if f.negate else "="
            values = " or ".join(f.values)
            parts.append(f"{dim.label} {sign} {values}" if len(f.values) == 1 or not f.negate
                         else f"{dim.label} not in ({', '.join(f.values)})")
        for r in self.ranges:
            label = model.attributes[r.attribute].label
            parts.append(f"{label} {r.low:g} to {r.high:g}" if r.op == "between" else
                         f"{label} {r.op} {(r.low if r.low is not None else r.high):g}")
        if self.compare:
            parts.append(f"{self.compare[0].label} vs {self.compare[1].label}")
            if self.breakdown:
                parts.append("groups that moved it most")
        elif self.period:
            parts.append(self.period.label)
        if self.top:
            parts.append(f"{'top' if self.order != 'asc' else 'bottom'} {self.top}")
        elif self.order:
            parts.append("highest first" if self.order == "desc" else "lowest first")
        return " · ".join(parts)


def group_label(model: SemanticModel, group: str) -> str:
    if group.startswith(TIME_GROUP):
        return group.removeprefix(TIME_GROUP)
    return model.dimensions[group].label
