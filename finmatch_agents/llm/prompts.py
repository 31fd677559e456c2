"""Prompt files (``prompts/*.md``, shipped in the wheel) with named ``{variables}``.

Rendering is strict both ways: every variable in the file must be supplied and every supplied value must
be used, so a prompt and the node that fills it cannot drift apart unnoticed. Literal braces are doubled.
Lines several prompts share live once in a partial (a file starting with ``_``), pulled in with
``{> _name}``.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path

_VARIABLE = re.compile(r"(?<!\{)\{([a-z_]+)\}(?!\})")
_PARTIAL = re.compile(r"^\{>\s*(_[a-z_]+)\}\n", re.M)


def prompt_dir() -> Path:
    """The shipped prompts (inside the installed package) or the repository's prompts/ folder."""
    packaged = resources.files("finmatch_agents").joinpath("prompts")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent.parent / "prompts"


@cache
def load(name: str) -> str:
    """The prompt's text, partials expanded."""
    text = (prompt_dir() / f"{name}.md").read_text(encoding="utf-8")
    return _PARTIAL.sub(lambda m: load(m.group(1)), text)


def variables(name: str) -> set[str]:
    return set(_VARIABLE.findall(load(name)))


def render(name: str, **values: object) -> str:
    text = load(name)
    wanted = variables(name)
    missing, unused = wanted - set(values), set(values) - wanted
    if missing or unused:
        raise ValueError(f"prompt {name}.md: missing {sorted(missing)}, unused {sorted(unused)}")
    filled = _VARIABLE.sub(lambda m: str(values[m.group(1)]), text)
    return filled.replace("{{", "{").replace("}}", "}")
