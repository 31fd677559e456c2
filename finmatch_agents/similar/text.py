"""The customer's text: the fields the semantic part is ranked over, and how each value is worded.

A customer is six fields, each with few distinct values across the whole book (a stated goal, interests,
product types held, product types offered and not taken up, the segment, the lifecycle stage). Each distinct
value is embedded (or tokenised) once; a customer's vector is the weighted sum of its fields' vectors
(a multi-valued field: the mean of its values), so 250,000 customers cost a few hundred embeddings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: field -> (label shown in reasons, weight in the customer's vector)
FIELDS: dict[str, tuple[str, float]] = {
    "goal": ("stated goal", 0.35),
    "interests": ("interests", 0.25),
    "held": ("holds", 0.15),
    "offered": ("offered", 0.10),
    "segment": ("segment", 0.08),
    "stage": ("lifecycle stage", 0.07),
}
MULTI = ("interests", "held", "offered")

#: how the generator's segments and stages read in words (a value the data has and this lacks is used as it is)
SEGMENT_WORDS = {
    "Student": "student on a small budget",
    "Young Professional": "young professional early in their career",
    "Mass Market": "everyday retail banking customer",
    "Mass Affluent": "affluent customer with money to save and invest",
    "High Net Worth": "wealthy high net worth client with substantial assets",
    "Small Business": "small business owner",
}
STAGE_WORDS = {
    "New": "new customer who joined recently",
    "Growing": "growing relationship with the bank",
    "Mature": "long-standing established relationship",
    "At Risk": "relationship at risk of leaving",
    "Dormant": "inactive dormant relationship",
}
TYPE_WORDS = {
    "Checking": "checking current account",
    "Savings": "savings account",
    "Credit Card": "credit card",
    "Personal Loan": "personal loan",
    "Mortgage": "mortgage home loan",
    "Investment": "investment fund",
    "Insurance": "insurance policy",
    "Wealth Management": "wealth management service",
}


def wording(field: str, value: str) -> str:
    """The text embedded and tokenised for one value of a field."""
    if field == "segment":
        return SEGMENT_WORDS.get(value, value)
    if field == "stage":
        return STAGE_WORDS.get(value, value)
    if field in ("held", "offered"):
        return TYPE_WORDS.get(value, value)
    return value


def shown(field: str, value: str) -> str:
    """The value as a reason shows it (the data's own value, not its wording)."""
    return value


# -- tokens for the lexical ranker ---------------------------------------------------------------------------
_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(re.findall(r"[a-z]+", """
    a an the and or of for to in on at with by from is are be been was were who whom that which this these those
    their they them it its as into about than then so such can could would should might may will also very more
    most some any all each every other our your his her he she we you i me my not no"""))
_SUFFIXES = ("ments", "ment", "ings", "ing", "ers", "er", "ies", "ied", "es", "ed", "ly", "s")


def stem(word: str) -> str:
    """A light suffix stripper: invest, investing, investment, investments -> invest; cards -> card."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeious":
        word = word[:-1]  # shopping -> shopp -> shop
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]  # retire, retirement, retiring -> retir
    return word


def tokens(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


@dataclass(frozen=True)
class Vocabulary:
    """The distinct values of one field and the text each is ranked by."""

    field: str
    values: tuple[str, ...]

    @property
    def texts(self) -> list[str]:
        return [wording(self.field, v) for v in self.values]
