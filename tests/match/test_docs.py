"""docs/match.md names every gate, dimension and default passive weight the code uses."""

from __future__ import annotations

from pathlib import Path

from finmatch_agents.match.gates import RULES
from finmatch_agents.match.params import DEFAULT_WEIGHTS, DIMS, MatchParams

DOC = (Path(__file__).resolve().parents[2] / "docs" / "match.md").read_text()


def test_match_page_lists_the_rules_dimensions_and_weights() -> None:
    for rule in RULES:
        assert f"| `{rule.id}` | {rule.name} |" in DOC
    for dim in DIMS:
        assert f"| `{dim}` |" in DOC
    passive = DEFAULT_WEIGHTS["passive"]
    assert (f"weights risk {passive['risk']:g}, complexity {passive['complexity']:g}, revenue {passive['revenue']:g}, "
            f"retention {passive['retention']:g}, value {passive['value']:g}, bank risk {passive['bank_risk']:g}") \
        in " ".join(DOC.split())
    p = MatchParams()
    assert f"lock-in over {p.lock_in_max_months} months" in DOC and f"below {p.liquidity_months:g} month" in DOC
    assert f"{p.interest_weight:.1f} × [a stated interest" in DOC and f"+ {p.affinity_weight:g} × affinity" in DOC
