"""The semantic model in words, from the one model object: the chat model's context (its system prompt), the
rows of ``/describe`` and docs/semantic-model.md (a test keeps the page equal to :func:`model_markdown`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finmatch_agents.semantic.lexicon import GRAMMAR
from finmatch_agents.semantic.model import load_model
from finmatch_agents.semantic.periods import MONTHS

if TYPE_CHECKING:
    from finmatch_agents.semantic.layer import SemanticLayer
    from finmatch_agents.semantic.model import Dimension, SemanticModel

TIME_EXPRESSIONS = ("in 2025", "Q3 2025 / 2025 Q3 / third quarter of 2025", "March 2025 / 2025-03", "H1 2025",
                    "Q3 (no year: the latest Q3 in the data)", "last quarter / this quarter (the latest quarter in the "
                    "data)", "previous quarter", "last 6 months / last 90 days", "year to date / quarter to date",
                    "since March / since 2025", "before 2025 / up to Q2 2025", "from Q1 to Q3 2025 / between 2024 "
                    "and 2025", "Q3 vs Q2 / 2025 compared to 2024", "year over year / quarter over quarter")


def _values(d: Dimension, layer: SemanticLayer | None, limit: int = 25) -> str:
    if d.bands:
        return "; ".join(f"{b.label} ({b.range_text})" for b in d.bands)
    if layer is None:
        return "learned from the data"
    known = layer.vocab.values.get(d.name, ())
    more = f"; +{len(known) - limit} more" if len(known) > limit else ""
    return ", ".join(known[:limit]) + more


def measure_rows(model: SemanticModel) -> list[dict[str, Any]]:
    return [{"name": m.name, "label": m.label, "unit": m.unit, "level": "customer" if m.customer_level else "record",
             "meaning": m.description, "synonyms": ", ".join(m.synonyms + m.nouns)} for m in model.measures.values()]


def dimension_rows(model: SemanticModel, layer: SemanticLayer | None = None) -> list[dict[str, Any]]:
    return [{"name": d.name, "label": d.label, "column": d.column, "level": d.level,
             "values": _values(d, layer), "synonyms": ", ".join(d.synonyms)} for d in model.dimensions.values()]


def context_text(layer: SemanticLayer) -> str:
    """The semantic model as the chat model sees it (only what the data has)."""
    model, vocab = layer.model, layer.vocab
    present = set(vocab.present)
    lines = ["Measures (query_data measures):"]
    lines += [f"- {m.name}: {m.label} ({m.unit}) — {m.description}" for m in model.measures.values()
              if not model.absent(present, m.name)]
    lines.append("Dimensions (query_data group_by and filters; values as in the data):")
    lines += [f"- {d.name}: {d.label} — values: {_values(d, layer, 40)}" for d in model.dimensions.values()
              if not model.absent(present, d.name)]
    lines.append("Numeric attributes (query_data ranges): " + ", ".join(
        f"{a.name} ({a.label}{', 0..1' if a.ratio else ''})" for a in model.attributes.values()
        if not model.absent(present, a.name)))
    if vocab.first_day is not None:
        lines.append(f"Time: {model.time_label} ({model.time_column}) from {vocab.first_day} to {vocab.last_day}; "
                     f"grains for group_by: {', '.join('time:' + g for g in model.grains)}; periods are time "
                     "expressions such as " + "; ".join(TIME_EXPRESSIONS[:8]) + ".")
    else:
        lines.append("Time: this data has no dates; periods cannot be used.")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def model_markdown(model: SemanticModel | None = None) -> str:
    """docs/semantic-model.md, generated from the built-in model and the parser's grammar."""
    model = model or load_model()
    out = ["# Semantic model", "",
           "Generated from `finmatch_agents/semantic/model.toml` and the question parser by "
           "`python -c \"from finmatch_agents.semantic.describe import model_markdown; print(model_markdown(), "
           "end='')\" > docs/semantic-model.md` (a test keeps this page equal to the code). The chat's offline "
           "question compiler, the chat model's `query_data` tool and its system prompt, and `/describe` all read "
           "this model; [chat.md](chat.md) explains how to extend it in `finmatch.toml`.", "",
           f"Time column: `{model.time_column}` ({model.time_label}).", "",
           "## Measures", "", "| name | label | unit | counted per | meaning | SQL | words |",
           "|---|---|---|---|---|---|---|"]
    for m in model.measures.values():
        sql = f"per customer `{m.per_customer}`, then `{m.sql}`" if m.per_customer else f"`{m.sql}`"
        out.append(f"| `{m.name}` | {m.label} | {m.unit} | {'customer' if m.customer_level else 'record'} | "
                   f"{_cell(m.description)} | {_cell(sql)} | {_cell(', '.join(m.synonyms + m.nouns))} |")
    out += ["", "## Dimensions", "", "| name | label | column | level | values | words |", "|---|---|---|---|---|---|"]
    for d in model.dimensions.values():
        curated = "; ".join(f"{k} → {' / '.join(v)}" for k, v in d.values.items())
        values = _values(d, None) + (f"; synonyms: {curated}" if curated else "")
        band_words = "; ".join(f"{', '.join(b.synonyms)} → {b.label}" for b in d.bands if b.synonyms)
        values += f"; {band_words}" if band_words else ""
        qualified = " (values only next to the dimension's name)" if d.qualified else ""
        out.append(f"| `{d.name}` | {d.label} | `{d.column}` | {d.level} | {_cell(values)}{qualified} | "
                   f"{_cell(', '.join(d.synonyms))} |")
    out += ["", "## Numeric attributes", "", "Compared with words such as *over*, *at least*, *under*, *between … "
            "and …* (\"credit score over 750\", \"aged 55 to 64\"). A customer-level attribute is one figure per "
            "customer (the mean over the customer's records) when the similarity search filters customers; a "
            "record-level one is a condition on one of the customer's records.", "",
            "| name | label | column | level | words |", "|---|---|---|---|---|"]
    out += [f"| `{a.name}` | {a.label}{' (0 to 1; 50% = 0.5)' if a.ratio else ''} | `{a.column}` | {a.level} | "
            f"{_cell(', '.join(a.synonyms))} |" for a in model.attributes.values()]
    out += ["", "## Time", "", "Grains (group by): " + "; ".join(
        f"{g} ({', '.join(s)})" for g, s in model.grains.items()) + ".", "", "Expressions:", ""]
    out += [f"- {t}" for t in TIME_EXPRESSIONS]
    out += ["", f"Month names: {', '.join(k for k in MONTHS if len(k) > 3)} (and their short forms).", "",
            "## Grammar and filler", "", "Words with a role in a question:", ""]
    out += [f"- {role}: {', '.join(words)}" for role, words in GRAMMAR.items()]
    out += ["", "Filler (carry no meaning): " + ", ".join(sorted(model.filler)) + ".", ""]
    return "\n".join(out)
