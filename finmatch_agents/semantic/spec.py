"""The shape of a semantic model as written in TOML (the built-in ``model.toml`` and ``[semantic]`` in
finmatch.toml), validated by pydantic with ``extra="forbid"`` so a typo names the key instead of being ignored.

finmatch.toml extends the built-in model: a new name adds a measure, dimension or attribute; an existing name
merges into it (lists such as ``synonyms`` are appended, ``values`` maps are merged, other keys replace).
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from finmatch_agents.errors import ConfigError
from finmatch_agents.units import UNITS

SECTION = "semantic"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MeasureSpec(Strict):
    label: str
    sql: str
    unit: str
    description: str = ""
    kind: Literal["count", "rate", "mean", "total"] = "total"
    per_customer: str | None = None  # makes it a customer measure: ``sql`` aggregates ``value`` over customers
    numerator: str | None = None  # a rate's parts, for breaking a change down by group
    denominator: str | None = None
    uses_status: bool = False  # a status filter would make it meaningless (the rate of accepted among declined)
    higher_is_better: bool = True
    synonyms: list[str] = Field(default_factory=list)
    nouns: list[str] = Field(default_factory=list)  # what a count measure counts ("how many customers")
    share: str | None = None  # the measure that is this count as a share ("what share of customers are ...")

    @field_validator("unit")
    @classmethod
    def _unit(cls, value: str) -> str:
        if value not in UNITS:
            raise ValueError(f"unit {value!r} is not one of {', '.join(UNITS)}")
        return value


class BandSpec(Strict):
    label: str
    min: float | None = None  # inclusive
    max: float | None = None  # exclusive
    synonyms: list[str] = Field(default_factory=list)


class DimensionSpec(Strict):
    label: str
    column: str
    level: Literal["record", "customer"] = "record"
    description: str = ""
    qualified: bool = False  # values are common words: they count only next to the dimension's name
    synonyms: list[str] = Field(default_factory=list)
    values: dict[str, str | list[str]] = Field(default_factory=dict)  # phrase -> data value(s), first present wins
    bands: list[BandSpec] = Field(default_factory=list)  # numeric column cut into labelled ranges


class AttributeSpec(Strict):
    label: str
    column: str
    level: Literal["record", "customer"] = "record"  # customer: one figure per customer (the similarity search)
    ratio: bool = False  # stored as 0..1: "50%" means 0.5
    synonyms: list[str] = Field(default_factory=list)


class GrainSpec(Strict):
    synonyms: list[str] = Field(default_factory=list)


class TimeSpec(Strict):
    column: str
    label: str
    grains: dict[Literal["year", "quarter", "month", "week"], GrainSpec] = Field(default_factory=dict)


class VocabularySpec(Strict):
    filler: list[str] = Field(default_factory=list)


class SemanticSpec(Strict):
    time: TimeSpec
    measures: dict[str, MeasureSpec]
    dimensions: dict[str, DimensionSpec]
    attributes: dict[str, AttributeSpec] = Field(default_factory=dict)
    vocabulary: VocabularySpec = Field(default_factory=VocabularySpec)

    @model_validator(mode="after")
    def _names(self) -> SemanticSpec:
        for kind, names in (("measure", self.measures), ("dimension", self.dimensions),
                            ("attribute", self.attributes)):
            for name in names:
                if not name.replace("_", "").isalnum() or not name[0].isalpha():
                    raise ValueError(f"{kind} name {name!r} must be letters, digits and '_'")
        for name, m in self.measures.items():
            if m.share is not None and m.share not in self.measures:
                raise ValueError(f"measures.{name}.share: {m.share!r} is not a measure")
        clash = set(self.measures) & set(self.dimensions)
        if clash:
            raise ValueError(f"{sorted(clash)[0]!r} is both a measure and a dimension")
        return self


@cache
def builtin() -> dict[str, Any]:
    """The built-in model as TOML data (``finmatch_agents/semantic/model.toml``)."""
    text = resources.files("finmatch_agents.semantic").joinpath("model.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def merge(base: Any, extra: Any) -> Any:
    """``extra`` over ``base``: tables merge key by key, lists append, anything else replaces."""
    if isinstance(base, dict) and isinstance(extra, dict):
        out = dict(base)
        for key, value in extra.items():
            out[key] = merge(base[key], value) if key in base else value
        return out
    if isinstance(base, list) and isinstance(extra, list):
        return [*base, *(v for v in extra if v not in base)]
    return extra


def load_spec(extra: dict[str, Any] | None = None, source: str = "finmatch.toml") -> SemanticSpec:
    """The built-in model extended by ``extra`` (the ``[semantic]`` table); errors name the key."""
    data = merge(builtin(), extra or {})
    try:
        return SemanticSpec.model_validate(data)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        message = "unknown key" if problem["type"] == "extra_forbidden" else problem["msg"]
        raise ConfigError(f"{source}: [{SECTION}] {where}: {message}") from exc
