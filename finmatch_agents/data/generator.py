"""Deterministic, vectorised synthetic bank data with planted, documented patterns.

The patterns (``PLANTED``) are what the analyses are tested against; data/README.md documents each one
with the size measured on the default seed. Everything random comes from one ``numpy.random.Generator``
seeded by ``--seed``; the calendar is fixed (``PERIOD_END``), never "today", so a seed gives the same data
on every machine and every day.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.data import writer
from finmatch_agents.data.defaults import DEFAULT_CUSTOMERS, DEFAULT_SEED
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


def generate_tables(customers: int, seed: int, *, co_acceptance: bool = False) -> tuple[pa.Table, pa.Table]:
    """Build (fpr_records, products) as Arrow tables. Pure function of (customers, seed, co_acceptance).

    ``co_acceptance=True`` appends the bundle follow-up offers (pattern 9) after the main rows. The default
    leaves them out, so a caller that does not ask for them gets exactly the data of generator version 2;
    ``finmatch data generate`` and the default database ask for them."""
    import pyarrow as pa

    if customers < 1:
        raise ValueError("customers must be at least 1")
    rng = np.random.default_rng(seed)
    p = PLANTED
    catalogue = load_catalogue()
    n = customers

    # --- customers -------------------------------------------------------------------------------------
    seg = rng.choice(len(SEGMENTS), size=n, p=SEGMENT_SHARE)
    age_mean = np.array([a for a, _ in SEGMENT_AGE])[seg]
    age_sd = np.array([s for _, s in SEGMENT_AGE])[seg]
    age = np.clip(np.rint(rng.normal(age_mean, age_sd)), 18, 95).astype(np.int32)
    income = np.round(np.exp(rng.normal(np.log(np.array(SEGMENT_INCOME)[seg]), 0.45)), -2)
    credit = np.clip(np.rint(690 + 45 * np.log(income / 60_000) + rng.normal(0, 55, n)), 300, 850).astype(np.int32)
    balance = np.round(np.exp(rng.normal(np.log(income * 0.18), 1.0)), 2)
    stage = rng.choice(len(LIFECYCLE_STAGES), size=n, p=LIFECYCLE_SHARE)
    trend_cum = np.cumsum(np.array(LIFECYCLE_TREND), axis=1)[stage]
    trend = (rng.random(n)[:, None] > trend_cum).sum(axis=1)  # 0 Increasing, 1 Stable, 2 Decreasing
    increasing, decreasing = trend == 0, trend == 2
    usage = np.clip(np.array([68.0, 55.0, 32.0])[trend] + rng.normal(0, 14, n) - 12 * (stage == 4), 0, 100).round(1)
    aff_trend = np.where(rng.random(n) < 0.6, trend, rng.integers(0, 3, n))
    sat_mean = np.array(LIFECYCLE_SATISFACTION)[stage] - 0.6 * decreasing + 0.3 * increasing
    satisfaction = np.clip(np.rint(rng.normal(sat_mean, 1.6)), 1, 10).astype(np.int32)
    churn_logit = (p.churn_intercept + p.churn_decreasing_usage * decreasing + p.churn_increasing_usage * increasing
                   + p.churn_per_satisfaction_point * (satisfaction - 6.5) + 0.5 * (stage == 3) + 0.7 * (stage == 4)
                   + rng.normal(0, 0.35, n))
    churn = np.round(_sigmoid(churn_logit), 4)
    source = rng.choice(len(SOURCE_SYSTEMS), size=n, p=SOURCE_SHARE)
    crm = rng.choice(len(CRM_SYSTEMS), size=n, p=CRM_SHARE)
    stale = np.array(SOURCE_SYSTEMS)[source] == STALE_SYSTEM
    tx_rate = np.array(SEGMENT_TX_RATE)[seg] * (0.35 + usage / 80)
    tx_count = rng.poisson(tx_rate).astype(np.int32)
    ticket = np.exp(rng.normal(np.log(35 + income / 2_500), 0.5, n))
    tx_value = np.round(tx_count * ticket, 2)
    slope = np.array([0.07, 0.0, -0.09])[trend]
    weights = (1 + slope[:, None] * (np.arange(6) - 2.5)[None, :]) * rng.gamma(20, 1 / 20, (n, 6))
    monthly = np.round(tx_value[:, None] * weights / weights.sum(axis=1, keepdims=True), 2)
    end_day = np.where(stale, _days(PERIOD_END) - STALE_LAG_DAYS, _days(PERIOD_END))
    start_day = _days(PERIOD_START)
    transition = end_day - rng.integers(0, end_day - start_day + 1)
    transition = np.where(stage == 0, end_day - rng.integers(0, 120, n), transition)
    interest_names = np.array(list(INTERESTS))
    n_interests = rng.integers(1, 4, n)
    interest_pick = np.argsort(rng.random((n, len(INTERESTS))), axis=1)[:, :3]
    interest_type = np.array([PRODUCT_TYPES.index(INTERESTS[k]) for k in INTERESTS])[interest_pick]
    first = rng.integers(0, len(FIRST_NAMES), n)
    last = rng.integers(0, len(LAST_NAMES), n)

    # --- recommendations -------------------------------------------------------------------------------
    k = 1 + rng.poisson(3.0, n)
    cust = np.repeat(np.arange(n), k)
    m = cust.size
    rseg = seg[cust]
    mix_cum = np.cumsum(np.array(SEGMENT_PRODUCT_MIX), axis=1)
    mix_cum /= mix_cum[:, -1:]
    ptype = (rng.random(m)[:, None] > mix_cum[rseg]).sum(axis=1)
    by_type = [[i for i, row in enumerate(catalogue) if row["product_type"] == t] for t in PRODUCT_TYPES]
    prod = np.array([by_type[t][0] for t in range(len(PRODUCT_TYPES))])[ptype] + rng.integers(0, 5, m)
    has_interest = (interest_type[cust] == ptype[:, None]) & (np.arange(3)[None, :] < n_interests[cust][:, None])
    match = has_interest.any(axis=1)
    rtrend = trend[cust]
    aff_latent = 0.9 * match + 0.3 * (rtrend == 0) - 0.25 * (rtrend == 2) + rng.normal(0, 0.6, m)
    affinity = np.digitize(aff_latent, [0.05, 0.75])  # 0 Low, 1 Medium, 2 High
    score = np.round(_sigmoid(-0.45 + 1.1 * (affinity - 1) + 0.5 * match + rng.normal(0, 0.85, m)), 4)
    channel = rng.choice(len(CHANNELS), size=m, p=CHANNEL_SHARE)
    mistargeted = (rseg == SEGMENTS.index(p.mistargeted_segment)) & (
        ptype == PRODUCT_TYPES.index(p.mistargeted_type))
    score = np.where(mistargeted, np.round(np.clip(rng.normal(p.mistargeted_score_mean, 0.06, m), 0.5, 0.99), 4),
                     score)
    accept_logit = (p.acceptance_intercept + p.acceptance_per_score * score
                    + p.acceptance_per_affinity * (affinity - 1)
                    + p.best_channel_logit * (channel == CHANNELS.index(p.best_channel))
                    + p.worst_channel_logit * (channel == CHANNELS.index(p.worst_channel))
                    + 0.12 * (satisfaction[cust] - 7) - 0.5 * (stage[cust] == 4))
    accept_logit = np.where(mistargeted, p.mistargeted_acceptance_logit + rng.normal(0, 0.3, m), accept_logit)
    accepted = rng.random(m) < _sigmoid(accept_logit)
    rend = end_day[cust]
    rec_day = rend - rng.integers(0, rend - start_day + 1)
    recent = (rend - rec_day) < 45
    other = rng.random(m)
    status = np.where(accepted, 0, np.where(recent, np.where(other < 0.55, 1, 2),
                                            np.where(other < 0.85, 3, np.where(other < 0.94, 1, 2))))
    deleted = rng.random(m) < p.deleted_share
    # soft-deleted rows are connector test duplicates: all "accepted" with inflated sales, so any
    # analysis that forgets the _fivetran_deleted filter reports visibly wrong figures
    status = np.where(deleted, 0, status)
    is_sale = status == 0
    sale_median = np.array([SALE_SIZE[t][0] for t in PRODUCT_TYPES])[ptype]
    sale_sigma = np.array([SALE_SIZE[t][1] for t in PRODUCT_TYPES])[ptype]
    income_factor = (income[cust] / 60_000) ** 0.3
    sale = np.round(np.exp(rng.normal(np.log(sale_median * income_factor), sale_sigma)), 2)
    sale = np.where(deleted, sale * 10, sale)
    sale_day = np.minimum(rec_day + rng.integers(0, 31, m), rend)
    rstage = stage[cust]
    action = np.where(rstage == 0, 0, np.where(rstage >= 3, 1, np.where(rng.random(m) < 0.7, 2, 3)))
    synced = (rec_day.astype(np.int64) + rng.integers(1, 4, m)) * 86_400 + rng.integers(0, 86_400, m)
    null_rate = np.where(stale[cust], p.stale_null_rate, p.normal_null_rate)

    # --- bundle follow-ups (pattern 9), from a stream of their own, appended after the main rows ------------
    rng2 = np.random.default_rng([seed, BUNDLE_STREAM])
    cat_index = {row["product_id"]: i for i, row in enumerate(catalogue)}
    partner = np.full(len(catalogue), -1, dtype=np.int64)
    if co_acceptance:
        for first_id, second_id in BUNDLES.items():
            partner[cat_index[first_id]] = cat_index[second_id]
    anchors = np.flatnonzero((status == 0) & ~deleted & (partner[prod] >= 0))
    anchors = anchors[rng2.random(anchors.size) < p.bundle_offer_share]
    f_day = rec_day[anchors] + rng2.integers(p.bundle_min_days, p.bundle_max_days + 1, anchors.size)
    kept = f_day <= rend[anchors]
    anchors, f_day = anchors[kept], f_day[kept]
    f = anchors.size
    f_cust = cust[anchors]
    f_prod = partner[prod[anchors]]
    type_of = np.array([PRODUCT_TYPES.index(row["product_type"]) for row in catalogue])
    f_ptype = type_of[f_prod]
    f_match = ((interest_type[f_cust] == f_ptype[:, None])
               & (np.arange(3)[None, :] < n_interests[f_cust][:, None])).any(axis=1)
    f_trend = trend[f_cust]
    f_aff = np.digitize(0.9 * f_match + 0.3 * (f_trend == 0) - 0.25 * (f_trend == 2) + rng2.normal(0, 0.6, f),
                        [0.05, 0.75])
    f_score = np.round(_sigmoid(-0.45 + 1.1 * (f_aff - 1) + 0.5 * f_match + rng2.normal(0, 0.85, f)), 4)
    f_channel = rng2.choice(len(CHANNELS), size=f, p=CHANNEL_SHARE)
    f_accepted = rng2.random(f) < _sigmoid(p.bundle_acceptance_logit + p.acceptance_per_affinity * (f_aff - 1))
    f_recent = (rend[anchors] - f_day) < 45
    f_other = rng2.random(f)
    f_status = np.where(f_accepted, 0, np.where(f_recent, np.where(f_other < 0.55, 1, 2),
                                                np.where(f_other < 0.85, 3, np.where(f_other < 0.94, 1, 2))))
    f_sale_median = np.array([SALE_SIZE[t][0] for t in PRODUCT_TYPES])[f_ptype]
    f_sale_sigma = np.array([SALE_SIZE[t][1] for t in PRODUCT_TYPES])[f_ptype]
    f_sale = np.round(np.exp(rng2.normal(np.log(f_sale_median * (income[f_cust] / 60_000) ** 0.3), f_sale_sigma)), 2)
    f_sale_day = np.minimum(f_day + rng2.integers(0, 31, f), rend[anchors])
    f_synced = (f_day.astype(np.int64) + rng2.integers(1, 4, f)) * 86_400 + rng2.integers(0, 86_400, f)
    f_null_rate = np.where(stale[f_cust], p.stale_null_rate, p.normal_null_rate)
    # one array per record-level quantity: the main rows first (unchanged), then the follow-ups
    cust = np.concatenate([cust, f_cust])
    rseg, rstage, rtrend = seg[cust], stage[cust], trend[cust]
    ptype, prod = np.concatenate([ptype, f_ptype]), np.concatenate([prod, f_prod])
    affinity, score = np.concatenate([affinity, f_aff]), np.concatenate([score, f_score])
    channel, status = np.concatenate([channel, f_channel]), np.concatenate([status, f_status])
    rec_day, sale_day = np.concatenate([rec_day, f_day]), np.concatenate([sale_day, f_sale_day])
    sale, synced = np.concatenate([sale, f_sale]), np.concatenate([synced, f_synced])
    action = np.concatenate([action, np.full(f, 2)])  # a follow-up is a cross-sell
    deleted = np.concatenate([deleted, np.zeros(f, dtype=bool)])
    is_sale = status == 0
    m_main, m = m, m + f

    def nullable(values: np.ndarray) -> pa.Array:
        mask = np.concatenate([rng.random(m_main) < null_rate, rng2.random(f) < f_null_rate])
        return pa.array(values, mask=mask)

    names = np.array([f"{f} {s}" for f in FIRST_NAMES for s in LAST_NAMES], dtype=object)
    name_idx = first * len(LAST_NAMES) + last
    cust_ids = np.char.add("C", np.char.zfill(np.arange(1, n + 1).astype(str), 7)).astype(object)
    email_local = np.array([f"{f}.{s}".lower().replace("'", "").replace("ü", "u") for f in FIRST_NAMES
                            for s in LAST_NAMES], dtype=object)
    emails = email_local[name_idx] + np.char.mod("%d@", np.arange(1, n + 1)).astype(object) + \
        np.array(EMAIL_DOMAINS, dtype=object)[np.arange(n) % len(EMAIL_DOMAINS)]
    history = np.array(["[" + ", ".join(f"{v:.2f}" for v in row) + "]" for row in monthly], dtype=object)
    interest_text = np.array([", ".join(interest_names[interest_pick[i, : n_interests[i]]]) for i in range(n)],
                             dtype=object)
    cat_name = np.array([row["product_name"] for row in catalogue], dtype=object)
    cat_id = np.array([row["product_id"] for row in catalogue], dtype=object)
    cat_terms = np.array([row["product_terms"] for row in catalogue], dtype=object)
    actions = np.array(["Onboarding", "Retention", "Cross-sell", "Upsell"], dtype=object)
    trends, levels = np.array(TRENDS, dtype=object), np.array(("Low", "Medium", "High"), dtype=object)
    record_ids = np.char.add("R", np.char.zfill(np.arange(1, m + 1).astype(str), 8)).astype(object)
    epoch = np.datetime64("1970-01-01", "D")
    # the churn outcome: one draw per customer from the modelled probability, from a stream of its own so the
    # other columns stay byte-identical per seed to data generated before the column existed
    churned = np.random.default_rng([seed, CHURN_STREAM]).random(n) < churn

    columns: dict[str, pa.Array] = {
        "record_id": pa.array(record_ids, pa.string()),
        "customer_id": pa.array(cust_ids[cust], pa.string()),
        "customer_name": pa.array(names[name_idx][cust], pa.string()),
        "customer_email": nullable(emails[cust]).cast(pa.string()),
        "customer_segment": pa.array(np.array(SEGMENTS, dtype=object)[rseg], pa.string()),
        "customer_lifecycle_stage": pa.array(np.array(LIFECYCLE_STAGES, dtype=object)[rstage], pa.string()),
        "customer_lifecycle_stage_transition_date": pa.array(epoch + transition[cust]),
        "account_balance": nullable(balance[cust]),
        "transaction_history": pa.array(history[cust], pa.string()),
        "customer_transaction_value": pa.array(tx_value[cust]),
        "customer_transaction_count": pa.array(tx_count[cust]),
        "product_id": pa.array(cat_id[prod], pa.string()),
        "product_name": pa.array(cat_name[prod], pa.string()),
        "product_type": pa.array(np.array(PRODUCT_TYPES, dtype=object)[ptype], pa.string()),
        "product_terms": pa.array(cat_terms[prod], pa.string()),
        "product_sales_amount": pa.array(sale, mask=~is_sale),
        "product_sales_date": pa.array(epoch + sale_day, mask=~is_sale),
        "product_recommendation": pa.array(actions[action] + ": " + cat_name[prod], pa.string()),
        "product_recommendation_date": pa.array(epoch + rec_day),
        "product_recommendation_status": pa.array(np.array(STATUSES, dtype=object)[status], pa.string()),
        "recommendation_score": pa.array(score),
        "customer_product_usage": nullable(usage[cust]),
        "customer_product_usage_trend": pa.array(trends[rtrend], pa.string()),
        "customer_product_interests": pa.array(interest_text[cust], pa.string()),
        "customer_product_affinity": nullable(levels[affinity]).cast(pa.string()),
        "customer_product_affinity_trend": pa.array(trends[aff_trend[cust]], pa.string()),
        "customer_satisfaction_score": nullable(satisfaction[cust]),
        "customer_churn_probability": pa.array(churn[cust]),
        "_fivetran_synced": pa.array(synced.astype("datetime64[s]")),
        "_fivetran_deleted": pa.array(deleted),
        "source_system": pa.array(np.array(SOURCE_SYSTEMS, dtype=object)[source[cust]], pa.string()),
        "crm_system": pa.array(np.array(CRM_SYSTEMS, dtype=object)[crm[cust]], pa.string()),
        "channel": pa.array(np.array(CHANNELS, dtype=object)[channel], pa.string()),
        "customer_age": pa.array(age[cust]),
        "annual_income": pa.array(income[cust]),
        "credit_score": pa.array(credit[cust]),
        "customer_churned": pa.array(churned[cust]),
    }
    records = pa.table(columns)
    products = pa.table({key: [row[key] for row in catalogue] for key in catalogue[0]})
    return records, products


def goal_intents() -> dict[str, tuple[str, ...]]:
    """Each planted intent's wordings (what the evaluation of the similarity search takes as the truth)."""
    return {k: wordings for k, (_type, wordings) in GOALS.items()}


def generate_goals(records: pa.Table, seed: int) -> pa.Table:
    """The ``customer_goals`` table (customer_id, customer_goals; one row per customer, ascending id): one planted
    stated goal per customer (or none) drawn from its segment and age in ``records``, from a random stream of its
    own, so generating the goals changes nothing else."""
    import pyarrow as pa

    ids = np.asarray(records.column("customer_id").to_numpy(zero_copy_only=False)).astype(str)
    customers, first = np.unique(ids, return_index=True)
    segments = np.asarray(records.column("customer_segment").to_numpy(zero_copy_only=False), dtype=object)[first]
    seg = np.array([SEGMENTS.index(s) if s in SEGMENTS else SEGMENTS.index("Mass Market") for s in segments])
    age = np.asarray(records.column("customer_age").to_numpy(zero_copy_only=False), dtype=float)[first]
    goals = _goals(np.random.default_rng([seed, GOALS_STREAM]), seg, age)
    return pa.table({"customer_id": pa.array(customers, pa.string()), "customer_goals": pa.array(goals, pa.string())})


def _goals(rng: np.random.Generator, seg: np.ndarray, age: np.ndarray) -> np.ndarray:
    """One stated goal per customer (or None): an intent drawn by segment and age, then one of its wordings."""
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
    texts = [GOALS[k][1] for k in names]
    out = np.array([texts[i][int(w * len(texts[i]))] for i, w in zip(intent, wording, strict=True)], dtype=object)
    out[empty] = None
    return out


def period_days() -> int:
    return (PERIOD_END - PERIOD_START).days


def stale_cutoff() -> date:
    return PERIOD_END - timedelta(days=STALE_LAG_DAYS)


def write_synthetic(db: Path, customers: int, seed: int, *, force: bool, co_acceptance: bool = False
                    ) -> dict[str, int]:
    """Generate and store fpr_records + products and the stated goals atomically; returns row counts per table."""
    records, products = generate_tables(customers, seed, co_acceptance=co_acceptance)
    goals = generate_goals(records, seed)
    # without pattern 9 the data is generator version 2's, and says so exactly as before
    provenance: dict[str, Any] = {"generator_version": GENERATOR_VERSION if co_acceptance else "2", "seed": seed,
                                  "customers": customers, "period_end": PERIOD_END}
    if co_acceptance:
        provenance["co_acceptance"] = True

    def work(con: duckdb.DuckDBPyConnection) -> None:
        writer.check_replace(con, ["fpr_records", "products", GOALS_TABLE], force, db)
        for name, table in (("fpr_records", records), ("products", products), (GOALS_TABLE, goals)):
            con.register("_incoming", table)
            con.execute(writer.table_ddl(name, table.column_names))
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _incoming")
            con.unregister("_incoming")
            version = {"goals_version": GOALS_VERSION} if name == GOALS_TABLE else {}
            writer.record_meta(con, name, "synthetic", {**provenance, **version})

    writer.atomic_write(db, work)
    return {"fpr_records": records.num_rows, "products": products.num_rows, GOALS_TABLE: goals.num_rows}


def ensure_default_database(settings: Any, notify: Callable[[str], None]) -> bool:
    """Create the default synthetic database when it is missing (fresh checkout); True if it was created.

    Only the default path is created: a mistyped --db must be an error, not a silent new database.
    """
    if settings.db.exists() or not settings.db_is_default:
        return False
    notify(f"No database at {settings.db} — creating the default synthetic dataset ({DEFAULT_CUSTOMERS:,} "
           f"customers, seed {DEFAULT_SEED}); see data/README.md.")
    counts = write_synthetic(settings.db, DEFAULT_CUSTOMERS, DEFAULT_SEED, force=False, co_acceptance=True)
    notify(f"Created {settings.db} with {counts['fpr_records']:,} recommendation records.")
    return True
