"""Deterministic, vectorised synthetic bank data with planted, documented patterns.

The patterns (``PLANTED``) are what the analyses are tested against; data/README.md documents each one
with the size measured on the default seed. Everything random comes from one ``numpy.random.Generator``
seeded by ``--seed``; the calendar is fixed (``PERIOD_END``), never "today", so a seed gives the same data
on every machine and every day.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.data import writer
from finmatch_agents.data.schema import (
    CRM_SYSTEMS,
    LIFECYCLE_STAGES,
    PRODUCT_TYPES,
    SOURCE_SYSTEMS,
    STATUSES,
    TRENDS,
)

if TYPE_CHECKING:
    from pathlib import Path

    import duckdb
    import pyarrow as pa

GENERATOR_VERSION = "3"  # 2: customer_churned; 3: bundle follow-up offers (appended rows, when asked for)
#: the random stream of the churn outcome (separate from the main stream: see generate_tables)
CHURN_STREAM = 1
#: the random stream of the bundle follow-up offers (appended after the main rows, which stay byte-identical)
BUNDLE_STREAM = 2
#: the co-acceptance pattern: a customer who accepted the first product is later offered the second (a
#: cross-sell follow-up) and accepts it far more often than an ordinary offer (data/README.md, pattern 9)
BUNDLES = {
    "MTG-01": "INS-02", "MTG-02": "INS-02", "MTG-03": "INS-02", "MTG-04": "INS-02", "MTG-05": "INS-02",
    "PL-03": "INS-03", "CC-02": "INS-04", "CHK-01": "CC-01", "SAV-01": "INV-02", "PL-04": "MTG-05",
    "CHK-04": "CC-05", "INV-03": "SAV-03",
}
#: the random stream of the stated goals (separate, so the records stay byte-identical per seed)
GOALS_STREAM = 3
#: the stated goals live in a table of their own (one row per customer), so fpr_records, its fingerprint and the
#: analysis report are exactly what they were before the goals existed; its own version in finmatch_meta
GOALS_TABLE = "customer_goals"
GOALS_VERSION = "1"
#: dictionary columns the generator leaves absent (its recommendations are not a phone campaign)
NOT_GENERATED = ("campaign_contacts",)
PERIOD_END = date(2026, 9, 30)
PERIOD_START = date(2023, 10, 1)
#: the stale core banking system stops delivering recent rows this many days before PERIOD_END
STALE_SYSTEM = "Temenos"
STALE_LAG_DAYS = 183

SEGMENTS = ("Student", "Young Professional", "Mass Market", "Mass Affluent", "High Net Worth", "Small Business")
SEGMENT_SHARE = (0.08, 0.17, 0.35, 0.20, 0.07, 0.13)
SEGMENT_AGE = ((21, 2.5), (30, 4.0), (46, 13.0), (50, 11.0), (58, 10.0), (47, 10.0))  # mean, sd
SEGMENT_INCOME = (14_000, 68_000, 46_000, 115_000, 420_000, 160_000)  # median annual income
SEGMENT_TX_RATE = (40, 90, 70, 110, 140, 260)  # transactions per six months at average usage
# product-type propensity per segment (rows: SEGMENTS, columns: PRODUCT_TYPES)
SEGMENT_PRODUCT_MIX = (
    (0.30, 0.20, 0.25, 0.15, 0.00, 0.03, 0.07, 0.00),
    (0.12, 0.15, 0.22, 0.14, 0.12, 0.12, 0.10, 0.03),
    (0.14, 0.16, 0.18, 0.16, 0.10, 0.08, 0.10, 0.08),
    (0.08, 0.14, 0.14, 0.08, 0.16, 0.20, 0.10, 0.10),
    (0.04, 0.08, 0.10, 0.02, 0.10, 0.26, 0.10, 0.30),
    (0.25, 0.12, 0.20, 0.20, 0.05, 0.06, 0.09, 0.03),
)
LIFECYCLE_SHARE = (0.12, 0.24, 0.39, 0.15, 0.10)
# usage-trend probabilities (Increasing, Stable, Decreasing) per lifecycle stage
LIFECYCLE_TREND = ((0.55, 0.35, 0.10), (0.50, 0.35, 0.15), (0.20, 0.60, 0.20), (0.10, 0.30, 0.60), (0.05, 0.40, 0.55))
LIFECYCLE_SATISFACTION = (7.6, 7.8, 7.4, 4.6, 5.5)
CHANNELS = ("Branch", "Mobile App", "Online Banking", "Call Center", "Email")
CHANNEL_SHARE = (0.24, 0.30, 0.26, 0.10, 0.10)
SOURCE_SHARE = (0.40, 0.35, 0.25)
CRM_SHARE = (0.50, 0.30, 0.20)
INTERESTS = {
    "everyday banking": "Checking", "saving": "Savings", "travel": "Credit Card", "cashback": "Credit Card",
    "car purchase": "Personal Loan", "home ownership": "Mortgage", "investing": "Investment",
    "retirement": "Investment", "family protection": "Insurance", "legacy planning": "Wealth Management",
}
# The customers' stated goals, as a relationship manager would note them (``customer_goals``): one planted intent
# per customer, worded in everyday language (few of the words name a product), so finding "customers who might
# want an investment product" takes meaning, not keywords. intent -> (product type it calls for, wordings).
GOALS: dict[str, tuple[str, tuple[str, ...]]] = {
    "travel_card": ("Credit Card", (
        "travels abroad a lot and wants airport lounge access",
        "asked for a card that earns air miles on every purchase",
        "wants concierge service and travel insurance with the card",
        "frequent flyer who wants no foreign transaction fees",
    )),
    "cashback_card": ("Credit Card", (
        "wants money back on the weekly grocery shop",
        "asked for rewards on everyday spending",
        "pays in full each month and wants points for it",
    )),
    "first_home": ("Mortgage", (
        "saving a deposit to buy a first flat",
        "house hunting with a partner this year",
        "asked how much they could borrow to buy a home",
        "renting now and wants to get on the property ladder",
    )),
    "remortgage": ("Mortgage", (
        "fixed rate on the house ends next year and wants a better deal",
        "wants to borrow against the home to build an extension",
    )),
    "grow_wealth": ("Investment", (
        "wants to put spare cash into the stock market",
        "asked about index funds and ETFs",
        "wants to build a share portfolio for the long term",
        "looking for better returns than a savings account pays",
    )),
    "retirement": ("Investment", (
        "plans to stop working within the next ten years",
        "asked about drawing an income from the pension pot",
        "wants a steady income after leaving work",
        "topping up the pension before retiring",
    )),
    "estate": ("Wealth Management", (
        "wants to pass assets on to the grandchildren",
        "asked about trusts and inheritance tax",
        "wants a private banker to look after a large portfolio",
        "sold a business and needs help managing the proceeds",
    )),
    "rainy_day": ("Savings", (
        "wants a rainy day fund for emergencies",
        "puts money aside every month for the future",
        "wants somewhere safe to keep cash that earns interest",
    )),
    "family_cover": ("Insurance", (
        "new baby on the way and worried about cover",
        "asked about life cover to protect the family",
        "wants the mortgage paid off if something happens to them",
    )),
    "car": ("Personal Loan", (
        "needs to replace the family car soon",
        "asked about financing a new vehicle",
    )),
    "consolidate": ("Personal Loan", (
        "wants to combine card debts into one monthly payment",
        "paying too much interest on several overdrafts",
    )),
    "everyday": ("Checking", (
        "wants a simple account with a good banking app",
        "moving salary over from another bank",
        "first job and learning to budget",
    )),
}
#: share of customers with no goal on record (the field is empty for them)
GOALS_EMPTY = 0.2
# how likely each intent is per segment (rows: SEGMENTS; columns: GOALS in order), before age and income
GOALS_BY_SEGMENT = (
    (1, 2, 1, 0, 1, 0, 0, 2, 0, 1, 1, 6),  # Student
    (4, 3, 5, 1, 3, 0, 0, 2, 1, 2, 2, 3),  # Young Professional
    (1, 3, 2, 2, 1, 2, 0, 3, 3, 3, 3, 3),  # Mass Market
    (3, 2, 1, 2, 4, 3, 1, 3, 2, 1, 1, 1),  # Mass Affluent
    (4, 0, 0, 1, 4, 3, 6, 1, 1, 0, 0, 0),  # High Net Worth
    (2, 2, 1, 2, 2, 2, 2, 3, 2, 3, 2, 2),  # Small Business
)
#: the planted pattern: people within ten years of retirement talk about retirement and estates, the young about
#: first homes; intent -> factor when the customer is 55 or older / under 35
GOALS_AGE_55 = {"retirement": 5.0, "estate": 2.5, "first_home": 0.1, "everyday": 0.5}
GOALS_AGE_UNDER_35 = {"first_home": 2.0, "retirement": 0.1, "estate": 0.1, "travel_card": 1.5}

# accepted sale size per product type: (median, lognormal sigma)
SALE_SIZE = {
    "Checking": (2_500, 0.8), "Savings": (12_000, 1.0), "Credit Card": (7_000, 0.5), "Personal Loan": (15_000, 0.6),
    "Mortgage": (280_000, 0.5), "Investment": (35_000, 1.0), "Insurance": (1_200, 0.5),
    "Wealth Management": (650_000, 0.7),
}
FIRST_NAMES = ("Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Sophia", "Elijah", "Isabella", "Mateo",
               "Mia", "Lucas", "Aisha", "Wei", "Priya", "Kwame", "Sofia", "Hiroshi", "Fatima", "Diego", "Chloe",
               "Ethan", "Zara", "Arjun", "Grace", "Omar", "Hannah", "Luca", "Nadia", "Samuel")
LAST_NAMES = ("Smith", "Johnson", "Garcia", "Chen", "Patel", "Nguyen", "Kim", "Okafor", "Müller", "Rossi",
              "Silva", "Kowalski", "Haddad", "Tanaka", "Andersen", "O'Brien", "Martin", "Lopez", "Singh", "Brown",
              "Dubois", "Novak", "Ivanova", "Mensah", "Cohen", "Larsen", "Walker", "Rahman", "Costa", "Meyer")
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")


@dataclass(frozen=True)
class Planted:
    """Effect sizes of the planted patterns (in model units); data/README.md reports what they produce."""

    acceptance_intercept: float = -3.4
    acceptance_per_score: float = 4.4  # logit slope: acceptance rises with recommendation score
    acceptance_per_affinity: float = 0.45  # per affinity level (Low -1, Medium 0, High +1)
    best_channel: str = "Mobile App"
    best_channel_logit: float = 1.0
    worst_channel: str = "Email"
    worst_channel_logit: float = -0.5
    mistargeted_segment: str = "Mass Market"
    mistargeted_type: str = "Wealth Management"
    mistargeted_score_mean: float = 0.84
    mistargeted_acceptance_logit: float = -3.5  # ~3% acceptance despite high scores
    churn_intercept: float = -2.4
    churn_decreasing_usage: float = 1.4
    churn_increasing_usage: float = -0.5
    churn_per_satisfaction_point: float = -0.42  # per point above 6.5
    stale_null_rate: float = 0.08
    normal_null_rate: float = 0.005
    deleted_share: float = 0.01
    bundle_offer_share: float = 0.6  # accepted offers of a bundle's first product that get a follow-up offer
    bundle_min_days: int = 14  # the follow-up comes this many days later at the earliest ...
    bundle_max_days: int = 240  # ... and at the latest (dropped when that is after the customer's last day)
    bundle_acceptance_logit: float = 0.4  # ~60% of follow-ups accepted (plus 0.45 per affinity level)


PLANTED = Planted()
NULLABLE_COLUMNS = ("customer_email", "account_balance", "customer_product_usage",
                    "customer_satisfaction_score", "customer_product_affinity")


def load_catalogue() -> list[dict[str, Any]]:
    """The ~40-product catalogue shipped with the package (products.csv)."""
    text = resources.files("finmatch_agents.data").joinpath("products.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    for row in rows:
        for key in ("risk_to_customer", "risk_to_bank", "revenue_potential", "customer_value", "lock_in_months",
                    "complexity"):
            row[key] = int(row[key])
        row["margin"] = float(row["margin"])
        # eligibility limits apply only where the product has one; empty means "no limit"
        for key, kind in (("min_balance", float), ("min_income", float), ("min_age", int), ("max_age", int)):
            row[key] = kind(row[key]) if row[key] else None
    return rows


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _days(d: date) -> int:
    return (d - date(1970, 1, 1)).days


#: rows of one DuckDB row group (its default, ``ROW_GROUP_SIZE``); a batch that fills whole row groups is stored as
#: it is inserted, while one that leaves a part-filled group makes CHECKPOINT rewrite the table (a fifth of the
#: generator's CPU time before, and a file half as large again)
ROW_GROUP_ROWS = 122_880
#: records per Arrow batch written to the database (the strings of one batch exist at a time: bounded memory)
BATCH_ROWS = 2 * ROW_GROUP_ROWS
#: elements per slice of a chunked random draw and of the arithmetic around it (NumPy temporaries stay small)
DRAW_STEP = 1 << 20
#: the columns that carry the missing values of ``null_rate`` (one mask each, drawn in this order)
_MASKED = ("customer_email", "account_balance", "customer_product_usage", "customer_product_affinity",
           "customer_satisfaction_score")


def _filled(size: int, dtype: Any, fn: Callable[[int, int], np.ndarray], width: int | None = None) -> np.ndarray:
    """``fn(a, b)`` for consecutive slices ``[a, b)`` of ``range(size)``, stored in one array of ``dtype``.

    NumPy's ``Generator`` draws element by element, so drawing a quantity in consecutive slices gives exactly the
    values of one draw of the whole size and leaves the stream exactly where that draw would (tests/data checks it
    for every distribution used here); only the temporaries of the arithmetic around a draw shrink to a slice."""
    out = np.empty(size if width is None else (size, width), dtype)
    for a in range(0, size, DRAW_STEP):
        b = min(size, a + DRAW_STEP)
        out[a:b] = fn(a, b)
    return out


def _categories(u: np.ndarray, cum: np.ndarray, group: np.ndarray) -> np.ndarray:
    """``(u[:, None] > cum[group]).sum(axis=1)``: how many of its group's cumulative shares each uniform draw
    exceeds (the category it falls in), by a binary search per group instead of comparing every share of every row
    (``searchsorted`` on the left counts the shares strictly below the draw: the same comparisons, the same result)."""
    out = np.empty(u.size, np.int64)
    for g in range(cum.shape[0]):
        rows = np.flatnonzero(group == g)
        out[rows] = np.searchsorted(cum[g], u[rows], side="left")
    return out


#: what a local array is set to once it is no longer needed (its memory is freed; closures see the change)
_FREED: Any = np.empty(0)


@dataclass
class _Draws:
    """Everything random about one dataset, as compact numeric arrays (the strings are made per batch)."""

    n: int
    m: int
    cust: dict[str, np.ndarray]  # per customer
    rec: dict[str, np.ndarray]  # per record (the main rows, then the bundle follow-ups)
    masks: dict[str, np.ndarray]  # per record: True where the column's value is missing


def _draw(customers: int, seed: int, co_acceptance: bool) -> _Draws:
    """The random quantities, drawn in exactly the order (and from the streams) of generator version 3."""
    rng = np.random.default_rng(seed)
    p = PLANTED
    catalogue = load_catalogue()
    n = customers

    # --- customers -------------------------------------------------------------------------------------
    seg = rng.choice(len(SEGMENTS), size=n, p=SEGMENT_SHARE).astype(np.int8)
    age_mean = np.array([a for a, _ in SEGMENT_AGE])[seg]
    age_sd = np.array([s for _, s in SEGMENT_AGE])[seg]
    age = np.clip(np.rint(rng.normal(age_mean, age_sd)), 18, 95).astype(np.int32)
    del age_mean, age_sd
    income = np.round(np.exp(rng.normal(np.log(np.array(SEGMENT_INCOME)[seg]), 0.45)), -2)
    credit = np.clip(np.rint(690 + 45 * np.log(income / 60_000) + rng.normal(0, 55, n)), 300, 850).astype(np.int32)
    balance = np.round(np.exp(rng.normal(np.log(income * 0.18), 1.0)), 2)
    stage = rng.choice(len(LIFECYCLE_STAGES), size=n, p=LIFECYCLE_SHARE).astype(np.int8)
    trend_cum = np.cumsum(np.array(LIFECYCLE_TREND), axis=1)
    trend = _filled(n, np.int8, lambda a, b: _categories(rng.random(b - a), trend_cum, stage[a:b]))
    increasing, decreasing = trend == 0, trend == 2  # trend: 0 Increasing, 1 Stable, 2 Decreasing
    usage = np.clip(np.array([68.0, 55.0, 32.0])[trend] + rng.normal(0, 14, n) - 12 * (stage == 4), 0, 100).round(1)
    aff_trend = np.where(rng.random(n) < 0.6, trend, rng.integers(0, 3, n)).astype(np.int8)
    sat_mean = np.array(LIFECYCLE_SATISFACTION)[stage] - 0.6 * decreasing + 0.3 * increasing
    satisfaction = np.clip(np.rint(rng.normal(sat_mean, 1.6)), 1, 10).astype(np.int32)
    del sat_mean
    churn_logit = (p.churn_intercept + p.churn_decreasing_usage * decreasing + p.churn_increasing_usage * increasing
                   + p.churn_per_satisfaction_point * (satisfaction - 6.5) + 0.5 * (stage == 3) + 0.7 * (stage == 4)
                   + rng.normal(0, 0.35, n))
    churn = np.round(_sigmoid(churn_logit), 4)
    del churn_logit, increasing, decreasing
    source = rng.choice(len(SOURCE_SYSTEMS), size=n, p=SOURCE_SHARE).astype(np.int8)
    crm = rng.choice(len(CRM_SYSTEMS), size=n, p=CRM_SHARE).astype(np.int8)
    stale = np.array(SOURCE_SYSTEMS)[source] == STALE_SYSTEM
    tx_rate = np.array(SEGMENT_TX_RATE)[seg] * (0.35 + usage / 80)
    tx_count = rng.poisson(tx_rate).astype(np.int32)
    del tx_rate
    ticket = np.exp(rng.normal(np.log(35 + income / 2_500), 0.5, n))
    tx_value = np.round(tx_count * ticket, 2)
    del ticket
    slope = np.array([0.07, 0.0, -0.09])[trend]
    month = (np.arange(6) - 2.5)[None, :]

    def cents(a: int, b: int) -> np.ndarray:  # np.round(x, 2) is rint(x * 100) / 100: these are its integers
        weights = (1 + slope[a:b, None] * month) * rng.gamma(20, 1 / 20, (b - a, 6))
        return np.rint(tx_value[a:b, None] * weights / weights.sum(axis=1, keepdims=True) * 100)

    monthly_cents = _filled(n, np.int64, cents, width=6)
    end_day = np.where(stale, _days(PERIOD_END) - STALE_LAG_DAYS, _days(PERIOD_END))
    start_day = _days(PERIOD_START)
    transition = end_day - rng.integers(0, end_day - start_day + 1)
    transition = np.where(stage == 0, end_day - rng.integers(0, 120, n), transition).astype(np.int32)
    n_interests = rng.integers(1, 4, n).astype(np.int8)
    interest_pick = _filled(n, np.int8, lambda a, b: np.argsort(rng.random((b - a, len(INTERESTS))), axis=1)[:, :3],
                            width=3)
    interest_type = np.array([PRODUCT_TYPES.index(INTERESTS[k]) for k in INTERESTS], dtype=np.int8)[interest_pick]
    first = rng.integers(0, len(FIRST_NAMES), n)
    last = rng.integers(0, len(LAST_NAMES), n)
    name_idx = (first * len(LAST_NAMES) + last).astype(np.int16)
    del first, last

    # --- recommendations -------------------------------------------------------------------------------
    k = 1 + rng.poisson(3.0, n)
    cust = np.repeat(np.arange(n, dtype=np.int32), k)
    del k
    m = cust.size
    mix_cum = np.cumsum(np.array(SEGMENT_PRODUCT_MIX), axis=1)
    mix_cum /= mix_cum[:, -1:]
    ptype = _filled(m, np.int8, lambda a, b: _categories(rng.random(b - a), mix_cum, seg[cust[a:b]]))
    by_type = [[i for i, row in enumerate(catalogue) if row["product_type"] == t] for t in PRODUCT_TYPES]
    type_first = np.array([by_type[t][0] for t in range(len(PRODUCT_TYPES))])
    prod = _filled(m, np.int8, lambda a, b: type_first[ptype[a:b]] + rng.integers(0, 5, b - a))
    # a recommendation matches when its product type is one of the customer's (first n_interests) interests: one
    # bit per product type and customer, so each record tests one bit instead of comparing three interests
    shown = np.arange(3)[None, :] < n_interests[:, None]
    interest_bits = np.bitwise_or.reduce(np.where(shown, np.left_shift(1, interest_type.astype(np.int32)), 0), axis=1)
    del shown

    def matches(customer: np.ndarray, product_type: np.ndarray) -> np.ndarray:
        return (np.right_shift(interest_bits[customer], product_type.astype(np.int32)) & 1).astype(np.bool_)

    match = _filled(m, np.bool_, lambda a, b: matches(cust[a:b], ptype[a:b]))

    def affinity_of(a: int, b: int) -> np.ndarray:
        rtrend = trend[cust[a:b]]
        aff_latent = 0.9 * match[a:b] + 0.3 * (rtrend == 0) - 0.25 * (rtrend == 2) + rng.normal(0, 0.6, b - a)
        return np.digitize(aff_latent, [0.05, 0.75])  # 0 Low, 1 Medium, 2 High

    affinity = _filled(m, np.int8, affinity_of)
    score = _filled(m, np.float64, lambda a, b: np.round(_sigmoid(
        -0.45 + 1.1 * (affinity[a:b] - 1) + 0.5 * match[a:b] + rng.normal(0, 0.85, b - a)), 4))
    match = _FREED
    channel = _filled(m, np.int8, lambda a, b: rng.choice(len(CHANNELS), size=b - a, p=CHANNEL_SHARE))
    mistargeted = _filled(m, np.bool_, lambda a, b: (seg[cust[a:b]] == SEGMENTS.index(p.mistargeted_segment)) & (
        ptype[a:b] == PRODUCT_TYPES.index(p.mistargeted_type)))
    score = _filled(m, np.float64, lambda a, b: np.where(
        mistargeted[a:b], np.round(np.clip(rng.normal(p.mistargeted_score_mean, 0.06, b - a), 0.5, 0.99), 4),
        score[a:b]))

    def accept_logit_of(a: int, b: int) -> np.ndarray:
        c = cust[a:b]
        logit = (p.acceptance_intercept + p.acceptance_per_score * score[a:b]
                 + p.acceptance_per_affinity * (affinity[a:b] - 1)
                 + p.best_channel_logit * (channel[a:b] == CHANNELS.index(p.best_channel))
                 + p.worst_channel_logit * (channel[a:b] == CHANNELS.index(p.worst_channel))
                 + 0.12 * (satisfaction[c] - 7) - 0.5 * (stage[c] == 4))
        return np.where(mistargeted[a:b], p.mistargeted_acceptance_logit + rng.normal(0, 0.3, b - a), logit)

    accept_logit = _filled(m, np.float64, accept_logit_of)
    mistargeted = _FREED
    accepted = _filled(m, np.bool_, lambda a, b: rng.random(b - a) < _sigmoid(accept_logit[a:b]))
    accept_logit = _FREED
    rec_day = _filled(m, np.int32, lambda a, b: end_day[cust[a:b]] - rng.integers(
        0, end_day[cust[a:b]] - start_day + 1))

    def status_of(a: int, b: int) -> np.ndarray:
        recent = (end_day[cust[a:b]] - rec_day[a:b]) < 45
        other = rng.random(b - a)
        return np.where(accepted[a:b], 0, np.where(recent, np.where(other < 0.55, 1, 2),
                                                   np.where(other < 0.85, 3, np.where(other < 0.94, 1, 2))))

    status = _filled(m, np.int8, status_of)
    accepted = _FREED
    deleted = _filled(m, np.bool_, lambda a, b: rng.random(b - a) < p.deleted_share)
    # soft-deleted rows are connector test duplicates: all "accepted" with inflated sales, so any
    # analysis that forgets the _fivetran_deleted filter reports visibly wrong figures
    status[deleted] = 0
    sale_median = np.array([SALE_SIZE[t][0] for t in PRODUCT_TYPES])
    sale_sigma = np.array([SALE_SIZE[t][1] for t in PRODUCT_TYPES])

    def sale_of(a: int, b: int) -> np.ndarray:
        t = ptype[a:b]
        income_factor = (income[cust[a:b]] / 60_000) ** 0.3
        sale = np.round(np.exp(rng.normal(np.log(sale_median[t] * income_factor), sale_sigma[t])), 2)
        return np.where(deleted[a:b], sale * 10, sale)

    sale = _filled(m, np.float64, sale_of)
    sale_day = _filled(m, np.int32, lambda a, b: np.minimum(rec_day[a:b] + rng.integers(0, 31, b - a),
                                                            end_day[cust[a:b]]))

    def action_of(a: int, b: int) -> np.ndarray:
        rstage = stage[cust[a:b]]
        return np.where(rstage == 0, 0, np.where(rstage >= 3, 1, np.where(rng.random(b - a) < 0.7, 2, 3)))

    action = _filled(m, np.int8, action_of)
    synced = _filled(m, np.int64, lambda a, b: rec_day[a:b].astype(np.int64) + rng.integers(1, 4, b - a))
    synced = _filled(m, np.int64, lambda a, b: synced[a:b] * 86_400 + rng.integers(0, 86_400, b - a))
    # the missing values: one mask per column, in column order, the last draws of the main stream (the
    # follow-ups' come from theirs, below)
    masks = {name: _filled(m, np.bool_, lambda a, b: rng.random(b - a) < np.where(
        stale[cust[a:b]], p.stale_null_rate, p.normal_null_rate)) for name in _MASKED}

    # --- bundle follow-ups (pattern 9), from a stream of their own, appended after the main rows ------------
    rng2 = np.random.default_rng([seed, BUNDLE_STREAM])
    cat_index = {row["product_id"]: i for i, row in enumerate(catalogue)}
    partner = np.full(len(catalogue), -1, dtype=np.int64)
    if co_acceptance:
        for first_id, second_id in BUNDLES.items():
            partner[cat_index[first_id]] = cat_index[second_id]
    anchors = np.flatnonzero((status == 0) & ~deleted & (partner[prod] >= 0))
    anchors = anchors[rng2.random(anchors.size) < p.bundle_offer_share]
    a_end = end_day[cust[anchors]]
    f_day = rec_day[anchors] + rng2.integers(p.bundle_min_days, p.bundle_max_days + 1, anchors.size)
    kept = f_day <= a_end
    anchors, f_day, a_end = anchors[kept], f_day[kept], a_end[kept]
    f = anchors.size
    f_cust = cust[anchors]
    f_prod = partner[prod[anchors]]
    type_of = np.array([PRODUCT_TYPES.index(row["product_type"]) for row in catalogue])
    f_ptype = type_of[f_prod]
    f_match = matches(f_cust, f_ptype)
    f_trend = trend[f_cust]
    f_aff = np.digitize(0.9 * f_match + 0.3 * (f_trend == 0) - 0.25 * (f_trend == 2) + rng2.normal(0, 0.6, f),
                        [0.05, 0.75])
    f_score = np.round(_sigmoid(-0.45 + 1.1 * (f_aff - 1) + 0.5 * f_match + rng2.normal(0, 0.85, f)), 4)
    f_channel = rng2.choice(len(CHANNELS), size=f, p=CHANNEL_SHARE)
    f_accepted = rng2.random(f) < _sigmoid(p.bundle_acceptance_logit + p.acceptance_per_affinity * (f_aff - 1))
    f_recent = (a_end - f_day) < 45
    f_other = rng2.random(f)
    f_status = np.where(f_accepted, 0, np.where(f_recent, np.where(f_other < 0.55, 1, 2),
                                                np.where(f_other < 0.85, 3, np.where(f_other < 0.94, 1, 2))))
    f_sale = np.round(np.exp(rng2.normal(np.log(sale_median[f_ptype] * (income[f_cust] / 60_000) ** 0.3),
                                         sale_sigma[f_ptype])), 2)
    f_sale_day = np.minimum(f_day + rng2.integers(0, 31, f), a_end)
    f_synced = (f_day.astype(np.int64) + rng2.integers(1, 4, f)) * 86_400 + rng2.integers(0, 86_400, f)
    f_null_rate = np.where(stale[f_cust], p.stale_null_rate, p.normal_null_rate)
    for name in _MASKED:
        masks[name] = np.concatenate([masks[name], rng2.random(f) < f_null_rate])
    # the churn outcome: one draw per customer from the modelled probability, from a stream of its own so the
    # other columns stay byte-identical per seed to data generated before the column existed
    churned = np.random.default_rng([seed, CHURN_STREAM]).random(n) < churn
    main = {"cust": cust, "ptype": ptype, "prod": prod, "affinity": affinity, "score": score, "channel": channel,
            "status": status, "rec_day": rec_day, "sale_day": sale_day, "sale": sale, "synced": synced,
            "action": action, "deleted": deleted}
    follow = {"cust": f_cust, "ptype": f_ptype, "prod": f_prod, "affinity": f_aff, "score": f_score,
              "channel": f_channel, "status": f_status, "rec_day": f_day, "sale_day": f_sale_day, "sale": f_sale,
              "synced": f_synced, "action": np.full(f, 2), "deleted": np.zeros(f, dtype=bool)}  # a cross-sell
    # the main rows' arrays are referred to only by ``main`` from here on, so each is freed once extended
    cust = ptype = prod = affinity = score = channel = status = rec_day = sale_day = sale = synced = action = \
        deleted = _FREED
    rec = {}
    for key in list(main):
        part = main.pop(key)
        rec[key] = np.concatenate([part, follow.pop(key).astype(part.dtype)])
        del part
    cust_arrays = {"seg": seg, "age": age, "income": income, "credit": credit, "balance": balance, "stage": stage,
                   "trend": trend, "usage": usage, "aff_trend": aff_trend, "satisfaction": satisfaction,
                   "churn": churn, "source": source, "crm": crm, "tx_count": tx_count, "tx_value": tx_value,
                   "monthly_cents": monthly_cents, "transition": transition, "n_interests": n_interests,
                   "interest_pick": interest_pick, "name_idx": name_idx, "churned": churned}
    return _Draws(n=n, m=m + f, cust=cust_arrays, rec=rec, masks=masks)


#: the fpr_records columns the generator writes, in table order
_RECORD_COLUMNS = ["record_id", "customer_id", "customer_name", "customer_email", "customer_segment",
                   "customer_lifecycle_stage", "customer_lifecycle_stage_transition_date", "account_balance",
                   "transaction_history", "customer_transaction_value", "customer_transaction_count", "product_id",
                   "product_name", "product_type", "product_terms", "product_sales_amount", "product_sales_date",
                   "product_recommendation", "product_recommendation_date", "product_recommendation_status",
                   "recommendation_score", "customer_product_usage", "customer_product_usage_trend",
                   "customer_product_interests", "customer_product_affinity", "customer_product_affinity_trend",
                   "customer_satisfaction_score", "customer_churn_probability", "_fivetran_synced",
                   "_fivetran_deleted", "source_system", "crm_system", "channel", "customer_age", "annual_income",
                   "credit_score", "customer_churned"]


def _cents_text(pa: Any, pc: Any, cents: np.ndarray) -> Any:
    """``f"{c / 100:.2f}"`` for whole cents ``c`` >= 0, as Arrow strings (exact: no float formatting)."""
    whole = pc.cast(pa.array(cents // 100), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0")
    return pc.binary_join_element_wise(whole, frac, ".")


def _interest_texts() -> list[str]:
    """Every customer_product_interests text, indexed by :func:`_interest_code` (1-3 distinct interests)."""
    names = list(INTERESTS)
    size = len(names)
    out = [""] * (size + size**2 + size**3)
    for i in range(size):
        out[i] = names[i]
        for j in range(size):
            out[size + i * size + j] = f"{names[i]}, {names[j]}"
            for k in range(size):
                out[size + size**2 + (i * size + j) * size + k] = f"{names[i]}, {names[j]}, {names[k]}"
    return out


def _interest_code(pick: np.ndarray, count: np.ndarray) -> np.ndarray:
    size = len(INTERESTS)
    p = pick.astype(np.int64)
    return np.select([count == 1, count == 2], [p[:, 0], size + p[:, 0] * size + p[:, 1]],
                     size + size**2 + (p[:, 0] * size + p[:, 1]) * size + p[:, 2])


def _batches(d: _Draws, catalogue: list[dict[str, Any]], rows: int = BATCH_ROWS, *, encoded: bool = True
             ) -> Iterator[pa.RecordBatch]:
    """The fpr_records rows as Arrow batches of ``rows`` records, in record order (strings made per batch).

    ``encoded`` gives the text columns as dictionary arrays (codes into the batch's customers, the catalogue or a
    domain), which the database reads without copying a string per row; otherwise they are plain strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def text(values: Any) -> pa.Array:
        return pa.array(list(values), pa.string())

    names = text(f"{f} {s}" for f in FIRST_NAMES for s in LAST_NAMES)
    email_local = text(f"{f}.{s}".lower().replace("'", "").replace("ü", "u") for f in FIRST_NAMES for s in LAST_NAMES)
    domains = text(f"@{x}" for x in EMAIL_DOMAINS)
    interests = text(_interest_texts())
    cat_name = [row["product_name"] for row in catalogue]
    cat_ids, cat_names = text(row["product_id"] for row in catalogue), text(cat_name)
    cat_terms = text(row["product_terms"] for row in catalogue)
    actions = ("Onboarding", "Retention", "Cross-sell", "Upsell")
    recommendation = text(f"{a}: {name}" for a in actions for name in cat_name)
    segments, stages, types = text(SEGMENTS), text(LIFECYCLE_STAGES), text(PRODUCT_TYPES)
    statuses, trends, levels = text(STATUSES), text(TRENDS), text(("Low", "Medium", "High"))
    sources, crms, channels = text(SOURCE_SYSTEMS), text(CRM_SYSTEMS), text(CHANNELS)
    c, r = d.cust, d.rec

    def code(dictionary: pa.Array, indices: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
        column = pa.DictionaryArray.from_arrays(pa.array(indices, mask=mask), dictionary)
        return column if encoded else column.cast(pa.string())

    for a in range(0, d.m, rows):
        b = min(d.m, a + rows)
        who, back = np.unique(r["cust"][a:b], return_inverse=True)  # the batch's customers, once each
        number = pc.cast(pa.array(who.astype(np.int64) + 1), pa.string())
        cents = c["monthly_cents"][who]
        months = pc.binary_join_element_wise(*[_cents_text(pa, pc, cents[:, i]) for i in range(6)], ", ")
        history = pc.binary_join_element_wise("[", months, "]", "")
        per_customer = {
            "customer_id": pc.binary_join_element_wise("C", pc.utf8_lpad(number, 7, "0"), ""),
            "customer_name": names.take(pa.array(c["name_idx"][who])),
            "customer_email": pc.binary_join_element_wise(email_local.take(pa.array(c["name_idx"][who])), number,
                                                          domains.take(pa.array(who % len(EMAIL_DOMAINS))), ""),
            "transaction_history": history,
            "customer_product_interests": interests.take(pa.array(_interest_code(c["interest_pick"][who],
                                                                                  c["n_interests"][who]))),
        }
        ci = r["cust"][a:b]
        masks = {name: mask[a:b] for name, mask in d.masks.items()}
        is_sale = r["status"][a:b] == 0
        record_no = pc.cast(pa.array(np.arange(a + 1, b + 1, dtype=np.int64)), pa.string())

        columns: dict[str, pa.Array] = {
            "record_id": pc.binary_join_element_wise("R", pc.utf8_lpad(record_no, 8, "0"), ""),
            "customer_id": code(per_customer["customer_id"], back),
            "customer_name": code(per_customer["customer_name"], back),
            "customer_email": code(per_customer["customer_email"], back, masks["customer_email"]),
            "customer_segment": code(segments, c["seg"][ci]),
            "customer_lifecycle_stage": code(stages, c["stage"][ci]),
            "customer_lifecycle_stage_transition_date": pa.array(c["transition"][ci], pa.date32()),
            "account_balance": pa.array(c["balance"][ci], mask=masks["account_balance"]),
            "transaction_history": code(per_customer["transaction_history"], back),
            "customer_transaction_value": pa.array(c["tx_value"][ci]),
            "customer_transaction_count": pa.array(c["tx_count"][ci]),
            "product_id": code(cat_ids, r["prod"][a:b]),
            "product_name": code(cat_names, r["prod"][a:b]),
            "product_type": code(types, r["ptype"][a:b]),
            "product_terms": code(cat_terms, r["prod"][a:b]),
            "product_sales_amount": pa.array(r["sale"][a:b], mask=~is_sale),
            "product_sales_date": pa.array(r["sale_day"][a:b], pa.date32(), mask=~is_sale),
            "product_recommendation": code(
                recommendation, r["action"][a:b].astype(np.int16) * len(catalogue) + r["prod"][a:b]),
            "product_recommendation_date": pa.array(r["rec_day"][a:b], pa.date32()),
            "product_recommendation_status": code(statuses, r["status"][a:b]),
            "recommendation_score": pa.array(r["score"][a:b]),
            "customer_product_usage": pa.array(c["usage"][ci], mask=masks["customer_product_usage"]),
            "customer_product_usage_trend": code(trends, c["trend"][ci]),
            "customer_product_interests": code(per_customer["customer_product_interests"], back),
            "customer_product_affinity": code(levels, r["affinity"][a:b],
                                              masks["customer_product_affinity"]),
            "customer_product_affinity_trend": code(trends, c["aff_trend"][ci]),
            "customer_satisfaction_score": pa.array(c["satisfaction"][ci], mask=masks["customer_satisfaction_score"]),
            "customer_churn_probability": pa.array(c["churn"][ci]),
            "_fivetran_synced": pa.array(r["synced"][a:b], pa.timestamp("s")),
            "_fivetran_deleted": pa.array(r["deleted"][a:b]),
            "source_system": code(sources, c["source"][ci]),
            "crm_system": code(crms, c["crm"][ci]),
            "channel": code(channels, r["channel"][a:b]),
            "customer_age": pa.array(c["age"][ci]),
            "annual_income": pa.array(c["income"][ci]),
            "credit_score": pa.array(c["credit"][ci]),
            "customer_churned": pa.array(c["churned"][ci]),
        }
        assert list(columns) == _RECORD_COLUMNS
        yield pa.RecordBatch.from_pydict(columns)


def _products(catalogue: list[dict[str, Any]]) -> pa.Table:
    import pyarrow as pa

    return pa.table({key: [row[key] for row in catalogue] for key in catalogue[0]})


def generate_tables(customers: int, seed: int, *, co_acceptance: bool = False) -> tuple[pa.Table, pa.Table]:
    """Build (fpr_records, products) as Arrow tables. Pure function of (customers, seed, co_acceptance).

    ``co_acceptance=True`` appends the bundle follow-up offers (pattern 9) after the main rows. The default
    leaves them out, so a caller that does not ask for them gets exactly the data of generator version 2;
    ``finmatch data generate`` and the default database ask for them. The whole table is in memory:
    :func:`write_synthetic` writes it batch by batch instead."""
    import pyarrow as pa

    if customers < 1:
        raise ValueError("customers must be at least 1")
    catalogue = load_catalogue()
    records = pa.Table.from_batches(list(_batches(_draw(customers, seed, co_acceptance), catalogue, encoded=False)))
    return records, _products(catalogue)


def goal_intents() -> dict[str, tuple[str, ...]]:
    """Each planted intent's wordings (what the evaluation of the similarity search takes as the truth)."""
    return {k: wordings for k, (_type, wordings) in GOALS.items()}


def generate_goals(records: pa.Table, seed: int) -> pa.Table:
    """The ``customer_goals`` table (customer_id, customer_goals; one row per customer, ascending id): one planted
    stated goal per customer (or none) drawn from its segment and age in ``records``, from a random stream of its
    own, so generating the goals changes nothing else."""
    ids = np.asarray(records.column("customer_id").to_numpy(zero_copy_only=False)).astype(str)
    customers, first = np.unique(ids, return_index=True)
    segments = np.asarray(records.column("customer_segment").to_numpy(zero_copy_only=False), dtype=object)[first]
    seg = np.array([SEGMENTS.index(s) if s in SEGMENTS else SEGMENTS.index("Mass Market") for s in segments])
    age = np.asarray(records.column("customer_age").to_numpy(zero_copy_only=False), dtype=float)[first]
    return _goals_table(customers, seg, age, seed)


def _goals_table(customers: Any, seg: np.ndarray, age: np.ndarray, seed: int) -> pa.Table:
    import pyarrow as pa

    intent, wording, empty = _goals(np.random.default_rng([seed, GOALS_STREAM]), seg, age)
    texts = [GOALS[k][1] for k in GOALS]
    flat = pa.array([t for wordings in texts for t in wordings], pa.string())
    offset = np.cumsum([0] + [len(t) for t in texts[:-1]])
    size = np.array([len(t) for t in texts])
    pick = offset[intent] + (wording * size[intent]).astype(np.int64)  # int(w * len): w >= 0, so truncation
    return pa.table({"customer_id": pa.array(customers, pa.string()),
                     "customer_goals": flat.take(pa.array(pick, mask=empty))})


def _goals(rng: np.random.Generator, seg: np.ndarray, age: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One stated goal per customer (or none): an intent drawn by segment and age, then the draw that picks one of
    its wordings, then whether the customer has no goal on record."""
    n = len(seg)
    names = list(GOALS)
    weights = np.array(GOALS_BY_SEGMENT, dtype=float)[seg]
    for factors, who in ((GOALS_AGE_55, age >= 55), (GOALS_AGE_UNDER_35, age < 35)):
        for name, factor in factors.items():
            weights[who, names.index(name)] *= factor
    cum = np.cumsum(weights, axis=1)
    cum /= cum[:, -1:]
    intent = (rng.random(n)[:, None] > cum).sum(axis=1)
    wording = rng.random(n)
    empty = rng.random(n) < GOALS_EMPTY
    return intent, wording, empty


def period_days() -> int:
    return (PERIOD_END - PERIOD_START).days


def stale_cutoff() -> date:
    return PERIOD_END - timedelta(days=STALE_LAG_DAYS)


def write_synthetic(db: Path, customers: int, seed: int, *, force: bool, co_acceptance: bool = False
                    ) -> dict[str, int]:
    """Generate and store fpr_records + products and the stated goals atomically; returns row counts per table.

    The records go to the database batch by batch (:data:`BATCH_ROWS`), so memory holds the numeric draws
    (about 60 bytes a record) and one batch of strings, whatever the size."""
    import pyarrow as pa

    if customers < 1:
        raise ValueError("customers must be at least 1")
    catalogue = load_catalogue()
    draws = _draw(customers, seed, co_acceptance)
    products = _products(catalogue)
    ids = _customer_ids(customers)
    goals = _goals_table(ids, draws.cust["seg"], draws.cust["age"].astype(float), seed)
    # without pattern 9 the data is generator version 2's, and says so exactly as before
    provenance: dict[str, Any] = {"generator_version": GENERATOR_VERSION if co_acceptance else "2", "seed": seed,
                                  "customers": customers, "period_end": PERIOD_END}
    if co_acceptance:
        provenance["co_acceptance"] = True

    def work(con: duckdb.DuckDBPyConnection) -> None:
        writer.check_replace(con, ["fpr_records", "products", GOALS_TABLE], force, db)
        # DuckDB keeps written blocks cached up to its memory limit (80% of RAM by default): bound it
        con.execute(f"SET memory_limit = '{writer.WRITE_MEMORY_LIMIT}'")
        batches = _batches(draws, catalogue, BATCH_ROWS)
        con.execute(writer.table_ddl("fpr_records", _RECORD_COLUMNS))
        # the next batch is made (NumPy and Arrow, mostly outside the GIL) while the database stores this one
        with ThreadPoolExecutor(1, thread_name_prefix="finmatch-generate") as ahead:
            pending = ahead.submit(next, batches, None)
            while (batch := pending.result()) is not None:
                pending = ahead.submit(next, batches, None)
                con.register("_incoming", pa.Table.from_batches([batch]))
                con.execute("INSERT INTO fpr_records BY NAME SELECT * FROM _incoming")
                con.unregister("_incoming")
        for name, table in (("products", products), (GOALS_TABLE, goals)):
            con.register("_incoming", table)
            con.execute(writer.table_ddl(name, table.column_names))
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _incoming")
            con.unregister("_incoming")
        for name in ("fpr_records", "products", GOALS_TABLE):
            version = {"goals_version": GOALS_VERSION} if name == GOALS_TABLE else {}
            writer.record_meta(con, name, "synthetic", {**provenance, **version})

    writer.atomic_write(db, work)
    return {"fpr_records": draws.m, "products": products.num_rows, GOALS_TABLE: goals.num_rows}


def _customer_ids(customers: int) -> Any:
    """``C0000001`` ... for customers 1..n (every customer has at least one record, so these are all the ids)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    number = pc.cast(pa.array(np.arange(1, customers + 1, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise("C", pc.utf8_lpad(number, 7, "0"), "")
