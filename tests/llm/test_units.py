"""Grounding, PII masking and model configuration in isolation."""

from __future__ import annotations

from pathlib import Path

import pytest

from finmatch_agents.config import load_settings
from finmatch_agents.errors import ConfigError, UsageError
from finmatch_agents.llm.grounding import Evidence, find_numbers, ungrounded
from finmatch_agents.llm.models import configured_models, resolve_model
from finmatch_agents.llm.pii import Masker, load_key, references_columns


@pytest.mark.parametrize(("text", "evidence", "missing"), [
    ("25.3% accepted", [0.2534], []),
    ("25.4% accepted", [0.2534], ["25.4%"]),
    ("98,841 offers", [98841], []),
    ("sales of USD 2.86B", [2_859_783_900.94], []),
    ("sales of USD 2.9B", [2_859_783_900.94], []),
    ("sales of USD 3.1B", [2_859_783_900.94], ["USD 3.1B"]),
    ("up +4.2 pp", [0.0421], []),
    ("7.4× as often", [7.41], []),
    ("from 2023-10-01", ["2023-10-01"], []),
    ("from 2024-02-30", ["2023-10-01"], ["2024-02-30"]),
    ("see [Q101] and [F7]", [], []),
    ("-22.4 pp below", [-0.224], []),
])
def test_grounding_reads_numbers_as_people_write_them(text: str, evidence: list, missing: list) -> None:
    assert ungrounded(text, Evidence.from_queries([], evidence)) == missing


def test_numbers_inside_strings_of_results_count_as_evidence() -> None:
    evidence = Evidence.from_queries([{"sample": [["Term Deposit 12M", 3], ["Low (1-4)", 0.5]]}])
    assert ungrounded("the Term Deposit 12M and band 1-4", evidence) == []
    assert [t.raw for t in find_numbers("USD 1,234.50 and 12%")[0]] == ["USD 1,234.50", "12%"]


def test_masking_is_stable_and_complete(tmp_path: Path) -> None:
    masker = Masker(load_key(tmp_path), ["customer_name", "customer_email"])
    rows = masker.rows("SELECT customer_name, customer_segment FROM fpr_records",
                       ["customer_name", "customer_segment"], [["Ann Lee", "Mass Market"], ["Bo Ng", "Student"]])
    assert rows[0][0].startswith("PII_NAME_") and rows[0][1].startswith("PII_TEXT_")  # the whole row is masked
    assert masker.rows("SELECT customer_name FROM fpr_records", ["customer_name"], [["Ann Lee"]])[0][0] == rows[0][0]
    assert masker.text("write to ann.lee@example.com about Ann Lee").count("PII_") == 2
    assert masker.unmask(rows[0][0]) == "Ann Lee"
    again = Masker(load_key(tmp_path), ["customer_name"])  # same installation key: same tokens next run
    assert again.token("Ann Lee", "NAME") == rows[0][0]
    assert (tmp_path / "pii.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("sql", "touches"), [
    ("SELECT channel, count(*) FROM fpr_records GROUP BY 1", False),
    ("SELECT * FROM fpr_records", True),
    ("SELECT f.* FROM fpr_records f", True),
    ("SELECT lower(customer_email) AS e FROM fpr_records", True),
    ("WITH t AS (SELECT customer_name AS n FROM fpr_records) SELECT n FROM t", True),
    ("SELECT * FROM products", False),
])
def test_which_queries_touch_pii(sql: str, touches: bool) -> None:
    assert references_columns(sql, {"customer_name", "customer_email"}, {"fpr_records"}) is touches


def test_model_config_is_validated(isolated: Path) -> None:
    (isolated / "finmatch.toml").write_text('[models.a]\nbase_url = "http://x/v1"\nmodel = "m"\napi_key_env = "A"\n'
                                             'temperature = 0.2\nmax_tokens = 500\ntimeout = 9\n')
    cfg = configured_models(load_settings(env={}))["a"]
    assert (cfg.base_url, cfg.temperature, cfg.max_tokens, cfg.timeout, cfg.api_key_env) == ("http://x/v1", 0.2, 500,
                                                                                              9.0, "A")
    for bad, message in (('api_key_env = "sk-abc-123!"', "NAME of an environment variable"),
                         ("temprature = 1", "unknown key"), ('timeout = "soon"', "expected a number")):
        (isolated / "finmatch.toml").write_text(f'[models.b]\nbase_url = "http://x/v1"\nmodel = "m"\n{bad}\n')
        with pytest.raises(ConfigError, match=message):
            configured_models(load_settings(env={}))


def test_unconfigured_names_need_openai_settings(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="unknown model 'gpt-x'"):
        resolve_model("gpt-x", load_settings(env={}))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-123")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    cfg = resolve_model("gpt-x", load_settings(env={}))
    assert (cfg.model, cfg.base_url, cfg.api_key_env, cfg.source) == ("gpt-x", "http://127.0.0.1:9/v1",
                                                                       "OPENAI_API_KEY", "env")
