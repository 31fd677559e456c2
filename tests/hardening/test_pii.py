"""Issue 20, item 1 and 5: no raw name or e-mail reaches a model, whatever the SQL; masking stays linear.

The SQL forms below leaked on the old query-text masker (8 of 18 forms). Each runs through the real sandbox
on a real DuckDB file, then through the masker; the JSON a model would get must hold no raw PII."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import duckdb
import pytest

from finmatch_agents.errors import ConfigError, FinMatchError
from finmatch_agents.evidence import QueryLog
from finmatch_agents.llm.pii import KEY_FILE, Masker, load_key
from finmatch_agents.warehouse.engine import DuckDBEngine

PII = ["customer_name", "customer_email"]
LEAKY_FORMS = [
    "SELECT fpr_records FROM fpr_records LIMIT 40",
    "SELECT t FROM fpr_records t LIMIT 40",
    "SELECT COLUMNS('customer_.*') FROM fpr_records LIMIT 40",
    "SELECT COLUMNS(*) FROM fpr_records LIMIT 40",
    "SELECT #3, #4 FROM fpr_records LIMIT 40",
    "SELECT #3 AS a, #4 AS b FROM fpr_records LIMIT 40",
    "SELECT list_value(*COLUMNS('customer_(name|email)')) AS v FROM fpr_records LIMIT 40",
    "SELECT min(COLUMNS('customer_.*')) FROM fpr_records",
    "SELECT to_json(t) AS j FROM fpr_records t LIMIT 40",
    "SELECT to_json(t)::VARCHAR AS j FROM (SELECT #3, #4 FROM fpr_records LIMIT 40) t",
    "SELECT {'who': t} AS nested FROM (SELECT #3 AS a, #4 AS b FROM fpr_records LIMIT 40) t",
    "SELECT map_from_entries(list((#1, #3))) AS m FROM (SELECT * FROM fpr_records LIMIT 40)",
    "SELECT list(t) AS l FROM (SELECT #3 AS a FROM fpr_records LIMIT 40) t",
    "SELECT string_agg(#4, '; ') AS s FROM (SELECT * FROM fpr_records LIMIT 40)",
    "SELECT upper(#3) AS x, lower(#4) AS y FROM fpr_records LIMIT 40",
    "SELECT * FROM fpr_records LIMIT 40",
    "SELECT customer_name, customer_email, upper(customer_name) AS x FROM fpr_records LIMIT 40",
    "SELECT 'Dear ' || customer_name || ' <' || customer_email || '>' AS line FROM fpr_records LIMIT 40",
]


def raw_pii(db: Path) -> tuple[set[str], set[str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        names = {r[0] for r in con.execute("SELECT DISTINCT customer_name FROM fpr_records").fetchall()}
        emails = {r[0] for r in con.execute("SELECT DISTINCT customer_email FROM fpr_records "
                                            "WHERE customer_email IS NOT NULL").fetchall()}
    return names, emails


def leaks(text: str, names: set[str], emails: set[str]) -> list[str]:
    """Raw values in ``text`` (case-insensitive; names also with the separators a JSON dump may use)."""
    folded = text.casefold()
    found = [v for v in names | emails if v.casefold() in folded]
    found += re.findall(r"[\w.+-]+@example\.(?:com|net|org)", text)
    return found


@pytest.fixture(scope="module")
def pii_values(small_db: Path) -> tuple[set[str], set[str]]:
    return raw_pii(small_db)


@pytest.mark.parametrize("sql", LEAKY_FORMS)
def test_no_sql_form_gets_raw_pii_past_the_masker(small_db: Path, tmp_path: Path, pii_values, sql: str) -> None:
    names, emails = pii_values
    with DuckDBEngine(small_db) as engine:
        result = engine.query(sql, log=QueryLog())
        masker = Masker.for_engine(load_key(tmp_path), PII, engine)
        shown = masker.rows(sql, result.columns, result.rows)
    dumped = json.dumps({"columns": result.columns, "rows": shown}, default=str, ensure_ascii=False)
    assert result.rows and not leaks(dumped, names, emails)
    assert "PII_" in dumped


@pytest.mark.parametrize("sql", [
    "SELECT reverse(#3) FROM fpr_records LIMIT 5",
    "SELECT substr(#3, 2) AS x, left(#4, 5) AS y FROM fpr_records LIMIT 5",
    "SELECT reverse(c) FROM (SELECT COLUMNS('customer_n.*') AS c FROM fpr_records LIMIT 5)",
    "SELECT reverse(COLUMNS(lambda c: c = 'customer_name')) FROM fpr_records LIMIT 5",
    "SELECT reverse(to_json(t)::VARCHAR) FROM fpr_records t LIMIT 5",
    "SELECT reverse(struct_pack(*)::VARCHAR) FROM (SELECT * FROM fpr_records LIMIT 5)",
])
def test_transformed_values_from_unnamed_columns_are_tokenised_whole(small_db: Path, tmp_path: Path,
                                                                      sql: str) -> None:
    """A value scan cannot recognise reverse(name); reaching PII columns without naming them masks every
    text value of the result."""
    with DuckDBEngine(small_db) as engine:
        result = engine.query(sql, log=QueryLog())
        shown = Masker.for_engine(load_key(tmp_path), PII, engine).rows(sql, result.columns, result.rows)
    texts = [v for row in shown for v in row if isinstance(v, str)]
    assert texts and all(v.startswith("PII_") for v in texts), texts


def test_unrelated_columns_patterns_are_not_over_masked(small_db: Path, tmp_path: Path) -> None:
    sql = "SELECT COLUMNS('product_type'), count(*) AS n FROM fpr_records GROUP BY ALL ORDER BY 1"
    with DuckDBEngine(small_db) as engine:
        result = engine.query(sql, log=QueryLog())
        shown = Masker.for_engine(load_key(tmp_path), PII, engine).rows(sql, result.columns, result.rows)
    assert shown[0][0] == result.rows[0][0] and not str(shown[0][0]).startswith("PII_")


def test_error_messages_carry_no_raw_pii(small_db: Path, tmp_path: Path, pii_values) -> None:
    names, emails = pii_values
    log = QueryLog()
    texts = []
    with DuckDBEngine(small_db) as engine:
        masker = Masker.for_engine(load_key(tmp_path), PII, engine)
        for sql in ("SELECT customer_name::INT FROM fpr_records", "SELECT strptime(customer_email, '%Y') "
                    "FROM fpr_records", "SELECT json_extract(customer_name, '$') FROM fpr_records",
                    "SELECT error(customer_name) FROM fpr_records"):
            with pytest.raises(FinMatchError) as exc:
                engine.query(sql, log=log)
            texts.append(exc.value.message)
        name = sorted(names)[0]
        assert name not in masker.text(f"Could not convert '{name}' to INT32")  # and the masker knows them
    texts += [r.error or "" for r in log.records]
    assert not leaks("\n".join(texts), names, emails)


def test_known_values_are_masked_in_any_text(tmp_path: Path) -> None:
    masker = Masker(load_key(tmp_path), PII)
    masker.learn(["Grace O'Brien", "Olivia Müller", "Mary Ann Lee"], "NAME")
    text = ("GRACE O'BRIEN met olivia  müller and Mary Ann Lee; {\"n\": \"Grace O'Brien\"} wrote to "
            "jo.doe+x@mail.example.co.uk")
    masked = masker.text(text)
    assert not re.search(r"grace|müller|mary|jo\.doe", masked, re.IGNORECASE), masked
    assert masked.count("PII_NAME_") == 4 and masked.count("PII_EMAIL_") == 1
    assert masker.text("Grace O'Brien") == masker.text("grace o'brien")  # one customer, one token
    assert masker.text("Grace and Olivia are first names only") == "Grace and Olivia are first names only"
    assert masker.unmask(masker.text("Mary Ann Lee")) == "Mary Ann Lee"


def test_nested_values_are_masked_recursively(tmp_path: Path) -> None:
    masker = Masker(load_key(tmp_path), PII)
    masker.learn(["Ann Lee"], "NAME")
    value = {"customer_name": "Somebody Else", "notes": ["see Ann Lee", {"mail": "ann@lee.org"}],
             "m": {"Ann Lee": 1}}
    shown = json.dumps(masker.rows("SELECT 1", ["v"], [[value]]), ensure_ascii=False)
    assert "Somebody" not in shown and "Ann Lee" not in shown and "ann@lee.org" not in shown
    assert shown.count("PII_") == 4


@pytest.mark.parametrize("text", [
    "a" * 3_000_000 + "@",
    "a@" * 1_500_000,
    ("x" * 60 + "@" + "b." * 40) * 20_000,
    "a." * 1_500_000 + "@x",
    "x@" + "a." * 1_500_000 + "1",
    "Ann " * 750_000,
    "ann.lee@example.com " * 150_000,
])
def test_masking_three_megabytes_is_linear(tmp_path: Path, text: str) -> None:
    """The old e-mail regex took 0.8 s for 40k characters and about 75 minutes for 3 MB."""
    masker = Masker(load_key(tmp_path), PII)
    masker.learn(["Ann Lee", "Ann Marie Lee"], "NAME")
    started = time.perf_counter()
    masker.text(text)
    assert time.perf_counter() - started < 60  # linear: about 0.1 s here; quadratic took 75 minutes


@pytest.mark.parametrize("content", [b"", b"short"])
def test_an_empty_or_truncated_key_is_an_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / KEY_FILE).write_bytes(content)
    with pytest.raises(ConfigError) as exc:
        load_key(tmp_path)
    assert KEY_FILE in exc.value.message and exc.value.hint


def test_an_unreadable_key_is_an_error(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).mkdir()  # reading a directory fails for every user, root included
    with pytest.raises(ConfigError, match="cannot read the PII masking key"):
        load_key(tmp_path)


def test_a_new_key_is_complete_and_private(tmp_path: Path) -> None:
    key = load_key(tmp_path / "state")
    assert len(key) == 32 and load_key(tmp_path / "state") == key
    assert (tmp_path / "state" / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert [p.name for p in (tmp_path / "state").iterdir()] == [KEY_FILE]  # no temp file left behind
