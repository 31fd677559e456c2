"""The semantic model: one source for the docs page, validated extensions in finmatch.toml, no clashing words."""

from __future__ import annotations

from pathlib import Path

import pytest

from finmatch_agents.config import load_settings
from finmatch_agents.errors import ConfigError
from finmatch_agents.semantic.describe import model_markdown
from finmatch_agents.semantic.model import load_model
from finmatch_agents.semantic.text import phrase

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_docs_page_is_generated_from_the_model() -> None:
    assert (DOCS / "semantic-model.md").read_text() == model_markdown(), (
        "regenerate: python -c \"from finmatch_agents.semantic.describe import model_markdown; "
        "print(model_markdown(), end='')\" > docs/semantic-model.md")


def test_no_phrase_names_two_measures_or_two_dimensions() -> None:
    model = load_model()
    for kind in (model.measures, model.dimensions):
        owners: dict[tuple[str, ...], set[str]] = {}
        for item in kind.values():
            for p in (item.label, *item.synonyms):
                owners.setdefault(phrase(p), set()).add(item.name)
        assert {k: v for k, v in owners.items() if len(v) > 1} == {}


def test_finmatch_toml_adds_measures_and_synonyms(tmp_path: Path) -> None:
    (tmp_path / "finmatch.toml").write_text('''
[semantic.measures.mean_score_x100]
label = "score points"
sql = "avg(recommendation_score) * 100"
unit = "number"
synonyms = ["score points"]

[semantic.dimensions.product_type.values]
"home loans" = "Mortgage"

[semantic.dimensions.segment]
synonyms = ["customer tier"]
''')
    model = load_model(load_settings(config_path=tmp_path / "finmatch.toml", env={}))
    assert model.measures["mean_score_x100"].requires == frozenset({"recommendation_score"})
    assert model.dimensions["product_type"].values["home loans"] == ("Mortgage",)
    assert "customer tier" in model.dimensions["segment"].synonyms and "segment" in model.dimensions["segment"].synonyms


@pytest.mark.parametrize(("text", "message"), [
    ('[semantic.measures.x]\nlabel = "x"\nsql = "count(*)"\nunit = "count"\nsqll = "typo"\n',
     "measures.x.sqll: unknown key"),
    ('[semantic.measures.x]\nlabel = "x"\nsql = "count(*)"\nunit = "dollars"\n', "unit 'dollars' is not one of"),
    ('[semantic.measures.x]\nlabel = "x"\nunit = "count"\n', "measures.x.sql: Field required"),
    ('[semantic.dimensions.segment]\ncolumn_name = "x"\n', "dimensions.segment.column_name: unknown key"),
    ('[semantic.measures.x]\nlabel = "x"\nsql = "count(*) FILTER (WHERE status = {{nope}})"\nunit = "count"\n',
     "measures.x: the SQL cannot be used"),
])
def test_mistakes_in_the_semantic_section_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "finmatch.toml").write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_model(load_settings(config_path=tmp_path / "finmatch.toml", env={}))
    assert message in exc.value.message and "[semantic]" in exc.value.message
