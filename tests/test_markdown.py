"""Data values in reports and chat answers render as the text they are, never as markup (checked with a real
CommonMark parser, the one Rich uses)."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from finmatch_agents.report.markdown import code, md_escape, prose, table

parse = MarkdownIt("commonmark").enable("table")


def inline_tokens(markdown: str) -> list[tuple[str, str]]:
    tokens = parse.parse(markdown)
    return [(child.type, child.content) for tok in tokens if tok.children for child in tok.children]


@pytest.mark.parametrize("value", ["fpr_records", "a`b", "`starts", "ends`", "x ``y`` z", "<b>html</b>", "*not em*"])
def test_code_spans_show_the_value_literally(value: str) -> None:
    assert inline_tokens(f"in {code(value)} here") == [("text", "in "), ("code_inline", value), ("text", " here")]


def test_code_spans_stay_on_one_line() -> None:
    assert inline_tokens(code("two\nlines")) == [("code_inline", "two lines")]


@pytest.mark.parametrize("value", ["[click](https://evil.example)", "<script>x</script>", "**bold** _it_",
                                   "![img](x.png)", "www.evil.example", "a | b", "~~gone~~", "line\n# heading"])
def test_escaped_values_render_as_plain_text(value: str) -> None:
    html = parse.render(md_escape(value, line_start=True))
    for markup in ("<a ", "<script", "<strong", "<em", "<img", "<h1", "<del"):
        assert markup not in html
    assert inline_tokens(md_escape(value)) == [("text", " ".join(value.split()))]


def test_prose_keeps_query_references() -> None:
    assert prose("Mortgage *wins* [Q12] see [F3]") == "Mortgage \\*wins\\* [Q12] see [F3]"


def test_a_pipe_in_a_value_does_not_add_a_table_column() -> None:
    html = parse.render(table(["product", "rate"], [["A | B", 0.5]]))
    assert html.count("<td") == 2 and "A | B" in html
