"""Docs that are generated from code, or must list what the code defines, stay in sync."""

from __future__ import annotations

from pathlib import Path

from finmatch_agents.config import OPTIONS
from finmatch_agents.data.schema import dictionary_markdown
from finmatch_agents.warehouse import named

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_data_dictionary_page_is_generated_from_the_schema() -> None:
    assert (DOCS / "data-dictionary.md").read_text() == dictionary_markdown()


def test_configuration_page_lists_every_setting() -> None:
    text = (DOCS / "configuration.md").read_text()
    for opt in OPTIONS:
        assert f"`{opt.env}`" in text and f"`{opt.toml}`" in text


def test_sql_page_lists_every_guard_rule() -> None:
    from finmatch_agents.warehouse import guard

    rules = guard.__doc__.split("Rules:")[1].split(".")[0]
    text = (DOCS / "sql.md").read_text()
    for rule in (r.strip() for r in rules.split(",")):
        assert f"`{rule}`" in text


def test_every_named_query_declares_a_title() -> None:
    for name in named.all_names():
        q = named.load(name)
        assert q.title != name and q.sql.upper().startswith(("SELECT", "WITH")), name
        assert "{{>" not in q.sql and "(fragment)" not in q.sql, name  # fragments expanded, their headers gone


def test_shared_rules_are_fragments_expanded_into_each_query() -> None:
    names = named.all_names()
    assert not [n for n in names if "/_" in n]  # fragments are not queries of their own
    users = [n for n in names if "max(margin) AS margin" in named.load(n).sql]
    assert len(users) >= 7 and "financial/clv" in users and "financial/revenue_by_type" in users
    assert all(named.load(n).sql.count("max(margin) AS margin") == 1 for n in users)
