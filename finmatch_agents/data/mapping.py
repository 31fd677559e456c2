"""Column mappings for real datasets: a small TOML file that says how a file's columns become ours.

```toml
currency = "EUR"              # optional: the currency of the file's amounts (ISO 4217 code); before any [section]

[source]                      # all optional
format = "csv"                # csv | parquet | jsonl (default: from the file extension)
delimiter = ";"               # csv: sniffed from the header when omitted
encoding = "utf-8"
null_values = ["", "NA"]      # source strings read as missing

[columns]                     # target column = source column
customer_segment = "job"

[values.product_recommendation_status]   # source value -> target value ("*" = anything else)
yes = "Accepted"
no = "Declined"

[constants]                   # columns the file lacks, same value on every row
product_type = "Savings"

[derive.customer_id]          # ids: from row order, or a hash of source columns
row_number = true
prefix = "UCI-"
width = 6

[dates]                       # strptime formats for non-ISO dates
product_recommendation_date = "%d/%m/%Y"

[drop]                        # source columns not to load at all (e.g. personal data)
columns = ["surname", "postcode"]

[labels]                      # what reports call a column (a dictionary column or an extra column)
customer_segment = "occupation"
duration = "call duration (seconds)"
```
Source columns the mapping neither maps, uses for a derivation nor drops are kept as *extra columns* under their
own name, made a plain SQL name (lower case, ``_`` for anything else, ``_raw`` added when it would be a dictionary
column's name, ``_2``... when two would collide), with a type inferred from the values.
Every key is checked: a typo is an error that names the mapping file and the key, never a silent no-op.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finmatch_agents.errors import DataError

FORMATS = ("csv", "parquet", "jsonl")
_SECTIONS = {"source", "columns", "values", "constants", "derive", "dates", "drop", "labels"}
_TOP_KEYS = {"currency"}  # plain keys before the first [section]
MAX_LABEL = 80
_CURRENCY = re.compile(r"[A-Z]{3}")
_SOURCE_KEYS = {"format", "delimiter", "encoding", "null_values"}


@dataclass(frozen=True)
class Derivation:
    target: str
    row_number: bool = False
    hash_of: tuple[str, ...] = ()
    prefix: str = ""
    width: int = 0


@dataclass(frozen=True)
class Mapping:
    path: str | None = None
    format: str | None = None
    delimiter: str | None = None
    encoding: str = "utf-8"
    null_values: tuple[str, ...] = ("",)
    columns: dict[str, str] = field(default_factory=dict)  # target -> source
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    derive: dict[str, Derivation] = field(default_factory=dict)
    dates: dict[str, str] = field(default_factory=dict)
    drop: tuple[str, ...] = ()  # source columns not loaded
    labels: dict[str, str] = field(default_factory=dict)  # column (target or extra, or its source name) -> label
    currency: str | None = None  # ISO 4217 code of the file's amounts

    def targets(self) -> set[str]:
        return set(self.columns) | set(self.constants) | set(self.derive)


IDENTITY = Mapping()


def _fail(path: Path, key: str, message: str) -> DataError:
    return DataError(f"{key}: {message}", file=str(path))


def _str_table(path: Path, raw: dict[str, Any], section: str) -> dict[str, Any]:
    value = raw.get(section, {})
    if not isinstance(value, dict):
        raise _fail(path, f"[{section}]", "must be a table")
    return value


def load_mapping(path: Path) -> Mapping:
    """Parse and check a mapping file (structure only; column names are checked against the data later)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError("mapping file not found", file=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"not valid TOML: {exc}", file=str(path)) from exc
    unknown = set(raw) - _SECTIONS - _TOP_KEYS
    if unknown:
        raise _fail(path, f"[{sorted(unknown)[0]}]", f"unknown section; expected one of {', '.join(sorted(_SECTIONS))}"
                    " (and `currency = \"EUR\"` before the first section)")
    currency = raw.get("currency")
    if currency is not None and (not isinstance(currency, str) or not _CURRENCY.fullmatch(currency)):
        raise _fail(path, "currency", f"{currency!r} is not a three-letter ISO 4217 code in capitals such as "
                    "\"EUR\" or \"USD\"")
    for section in ("columns", "constants"):
        table = raw.get(section)
        if isinstance(table, dict) and "currency" in table:
            raise _fail(path, f"{section}.currency", "'currency' is not a column; to say which currency the file's "
                        "amounts are in, put `currency = \"EUR\"` at the top of the mapping, before any [section]")

    source = _str_table(path, raw, "source")
    if set(source) - _SOURCE_KEYS:
        bad = sorted(set(source) - _SOURCE_KEYS)[0]
        raise _fail(path, f"source.{bad}", f"unknown key; expected one of {', '.join(sorted(_SOURCE_KEYS))}")
    fmt = source.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise _fail(path, "source.format", f"'{fmt}' is not one of {', '.join(FORMATS)}")
    delimiter = source.get("delimiter")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise _fail(path, "source.delimiter", "must be a single character")
    nulls = source.get("null_values", [""])
    if not isinstance(nulls, list) or not all(isinstance(v, str) for v in nulls):
        raise _fail(path, "source.null_values", "must be a list of strings")

    columns = _str_table(path, raw, "columns")
    for target, src in columns.items():
        if not isinstance(src, str):
            raise _fail(path, f"columns.{target}", "must name one source column (a string)")
    values: dict[str, dict[str, str]] = {}
    for target, table in _str_table(path, raw, "values").items():
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise _fail(path, f"values.{target}", "must be a table of source value = target value strings")
        values[target] = {str(k): v for k, v in table.items()}
    constants = _str_table(path, raw, "constants")
    for target, value in constants.items():
        if not isinstance(value, str | int | float | bool):
            raise _fail(path, f"constants.{target}", "must be a string, number or boolean")
    derive: dict[str, Derivation] = {}
    for target, spec in _str_table(path, raw, "derive").items():
        if not isinstance(spec, dict):
            raise _fail(path, f"derive.{target}", "must be a table (row_number = true, or hash = [columns])")
        extra = set(spec) - {"row_number", "hash", "prefix", "width"}
        if extra:
            raise _fail(path, f"derive.{target}.{sorted(extra)[0]}",
                        "unknown key; expected row_number, hash, prefix, width")
        hash_of = spec.get("hash", [])
        if bool(spec.get("row_number")) == bool(hash_of):
            raise _fail(path, f"derive.{target}", "give exactly one of row_number = true or hash = [columns]")
        if not isinstance(hash_of, list) or not all(isinstance(c, str) for c in hash_of):
            raise _fail(path, f"derive.{target}.hash", "must be a list of source column names")
        width = spec.get("width", 0)
        if not isinstance(width, int) or not 0 <= width <= 20:
            raise _fail(path, f"derive.{target}.width", "must be an integer from 0 to 20")
        derive[target] = Derivation(target, bool(spec.get("row_number")), tuple(hash_of), str(spec.get("prefix", "")),
                                    width)
    dates = _str_table(path, raw, "dates")
    for target, fmt_ in dates.items():
        if not isinstance(fmt_, str) or "%" not in fmt_:
            raise _fail(path, f"dates.{target}", "must be a strptime format such as '%d/%m/%Y'")

    drop_table = _str_table(path, raw, "drop")
    if set(drop_table) - {"columns"}:
        raise _fail(path, f"drop.{sorted(set(drop_table) - {'columns'})[0]}", "unknown key; expected columns")
    drop = drop_table.get("columns", [])
    if not isinstance(drop, list) or not all(isinstance(c, str) and c for c in drop):
        raise _fail(path, "drop.columns", "must be a list of source column names")
    used = {src: f"columns.{target}" for target, src in columns.items()}
    used.update({src: f"derive.{d.target}.hash" for d in derive.values() for src in d.hash_of})
    for src in drop:
        if src in used:
            raise _fail(path, "drop.columns", f"'{src}' is dropped but {used[src]} uses it; keep one")
    labels = _str_table(path, raw, "labels")
    for name, label in labels.items():
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL or "\n" in label:
            raise _fail(path, f"labels.{name}", f"must be a one-line text of 1 to {MAX_LABEL} characters")

    seen: dict[str, str] = {}
    for section, keys in (("columns", columns), ("constants", constants), ("derive", derive)):
        for target in keys:
            if target in seen:
                raise _fail(path, f"{section}.{target}", f"also set in [{seen[target]}]; give each column one source")
            seen[target] = section
    return Mapping(path=str(path), format=fmt, delimiter=delimiter, encoding=str(source.get("encoding", "utf-8")),
                   null_values=tuple(nulls), columns=dict(columns), values=values, constants=dict(constants),
                   derive=derive, dates=dict(dates), drop=tuple(dict.fromkeys(drop)),
                   labels={k: v.strip() for k, v in labels.items()}, currency=currency)
