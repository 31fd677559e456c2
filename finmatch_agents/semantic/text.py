"""Words of a question, the one way: lower case, punctuation dropped, plurals folded ("mortgages" and
"Mortgage" are the same word), numbers, quarters ("q3") and ISO dates kept whole. The lexicon, the filler
list and the questions all pass through :func:`words`, so they always compare alike.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\d{4}-\d{2}-\d{2}|\d{4}-\d{2}(?!\d)|\d+(?:st|nd|rd|th)\b|[$€£]?\d[\d,]*(?:\.\d+)?(?:k|m|bn)?\b%?"
                    r"|[a-z]+\d*|[<>]=?")
_KEEP = ("ss", "us", "is", "ics")
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                "ten": 10, "twelve": 12, "fifteen": 15, "twenty": 20}


def fold(word: str) -> str:
    """A word without its plural ending: 'mortgages' -> 'mortgage', 'categories' -> 'category'."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(_KEEP):
        return word[:-1]
    return word


def raw_words(text: str) -> list[str]:
    text = text.lower().replace("’", "'").replace("'s ", " ").replace("'", "")
    return _TOKEN.findall(text)


def words(text: str) -> list[str]:
    return [fold(w) for w in raw_words(text)]


def phrase(text: str) -> tuple[str, ...]:
    return tuple(words(text))


def number(token: str) -> float | None:
    """'750' -> 750, '10k' -> 10000, '$1.5m' -> 1500000, '50%' -> 0.5, 'five' -> 5; else None."""
    if token in NUMBER_WORDS:
        return float(NUMBER_WORDS[token])
    match = re.fullmatch(r"[$€£]?(\d[\d,]*(?:\.\d+)?)(k|m|bn)?(%?)", token)
    if not match:
        return None
    value = float(match.group(1).replace(",", ""))
    value *= {"k": 1e3, "m": 1e6, "bn": 1e9, None: 1.0}[match.group(2)]
    return value / 100 if match.group(3) else value


def is_percent(token: str) -> bool:
    return token.endswith("%")
