"""The grounding probe: invented figures in sentences that look like the analyst's are caught, and the offline
analyst's own sentences pass. A number must match, within its written precision and unit, a value (or the
difference or ratio of two related values) in what its own sentence cites."""

from __future__ import annotations

import random
import re

import pytest

from finmatch_agents.agents import FOCUS_ORDER
from finmatch_agents.llm.grounding import NumberToken, Sources, find_numbers, sentences, ungrounded_sentences

PROBE_SEED = 20261201


def _items(state: dict) -> list[tuple[str, list[str]]]:
    """(text, ids the item cites) for every statement, insight and recommendation of a run."""
    items = [(f["statement"], [f["id"]]) for f in state["findings"]]
    for section in state["sections"].values():
        a = section["analysis"]
        items += [(i["text"], [*i["finding_ids"], *i["query_ids"]]) for i in a["insights"]]
        items += [(r["rationale"], [*r["finding_ids"], *r["query_ids"]]) for r in a["recommendations"]]
    return items


def _sources(state: dict) -> Sources:
    return Sources(state["queries"], state["findings"], [state["run"]["assumptions"]])


def _fabricate(sentence: str, token: NumberToken, rng: random.Random) -> str | None:
    """The sentence with ``token`` replaced by a plausible invented figure (same format and unit)."""
    m = re.search(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?", token.raw)
    assert m
    digits = m.group(0).replace(",", "")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    old = float(digits)
    for _ in range(20):
        factor = 1 + rng.choice((-1, 1)) * rng.uniform(0.08, 0.6)
        new = round(old * factor, decimals)
        if new > 0 and new != old:
            break
    else:
        return None
    written = f"{new:,.{decimals}f}" if "," in m.group(0) else f"{new:.{decimals}f}"
    fake = token.raw.replace(m.group(0), written, 1)
    # replace the figure itself, not the same digits inside another number
    return re.sub(rf"(?<![\d.,]){re.escape(token.raw)}(?!\d|[.,]\d)", lambda _: fake, sentence, count=1)


@pytest.fixture(scope="module")
def states(analyzed) -> list[dict]:
    return [analyzed(focus) for focus in FOCUS_ORDER]


def test_the_offline_analysts_true_sentences_pass(states) -> None:
    checked = flagged = 0
    failures = []
    for state in states:
        src = _sources(state)
        for text, ids in _items(state):
            for sentence in sentences(text):
                if not find_numbers(sentence)[0]:
                    continue
                checked += 1
                # the sentence is checked in its context: the other sentences' references still apply
                missing = ungrounded_sentences(text, src, ids) if len(sentences(text)) == 1 else \
                    [m for m in ungrounded_sentences(text, src, ids) if m in sentence]
                if missing:
                    flagged += 1
                    failures.append((sentence, missing))
    assert checked > 100
    assert flagged <= 0.01 * checked, "\n".join(f"{m} IN {s}" for s, m in failures)


def test_invented_figures_are_caught(states) -> None:
    rng = random.Random(PROBE_SEED)
    probes = caught = 0
    missed = []
    for state in states:
        src = _sources(state)
        for text, ids in _items(state):
            own = sentences(text)
            for i, sentence in enumerate(own):
                for token in find_numbers(sentence)[0]:  # each figure of the sentence in turn
                    fake = _fabricate(sentence, token, rng) if token.value else None
                    if fake is None:
                        continue
                    text_with_fake = " ".join([*own[:i], fake, *own[i + 1:]])
                    probes += 1
                    if ungrounded_sentences(text_with_fake, src, ids):
                        caught += 1
                    else:
                        missed.append(fake)
    assert probes >= 200
    assert caught >= 0.95 * probes, f"caught {caught} of {probes}; missed:\n" + "\n".join(missed)
