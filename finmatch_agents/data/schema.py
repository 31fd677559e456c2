"""The data dictionary: the single source for load validation, the schema text given to models and the docs.

``fpr_records`` holds one row per product recommendation made to a customer. Its 30 core columns are the
27 named in the FinMatch data requirements (customer_id … customer_churn_probability, same names) plus the
connector's record key and the two Fivetran system columns. Extra columns (source systems, channel,
demographics) are written by the generator and used by analyses when present.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from finmatch_agents.warehouse.sqltext import literal

STATUS_ACCEPTED = "Accepted"
STATUSES = ("Accepted", "Pending", "In Progress", "Declined")
#: the status values named SQL refers to by placeholder (``{{accepted}}``...), so no query spells them itself
STATUS_PARAMS = {"accepted": "Accepted", "declined": "Declined", "pending": "Pending", "in_progress": "In Progress"}
assert set(STATUS_PARAMS.values()) == set(STATUSES)
AFFINITY_LEVELS = ("Low", "Medium", "High")
TRENDS = ("Increasing", "Stable", "Decreasing")
LIFECYCLE_STAGES = ("New", "Growing", "Mature", "At Risk", "Dormant")
PRODUCT_TYPES = (
    "Checking", "Savings", "Credit Card", "Personal Loan",
    "Mortgage", "Investment", "Insurance", "Wealth Management",
)
SOURCE_SYSTEMS = ("FIS", "Fiserv", "Temenos")
CRM_SYSTEMS = ("Salesforce", "HubSpot", "Zoho")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type
    group: str
    description: str
    required: bool = False
    domain: tuple[str, ...] | None = None  # canonical spellings; loads normalise case, '_' and '-'
    min: float | None = None
    max: float | None = None
    pii: bool = False
    origin: str = "finmatch"  # finmatch | connector | extra
    label: str = ""  # what reports call the column ("transactions (last six months)"); see column_label()

    @property
    def rules(self) -> str:
        """Validation rules in words ("required; one of Low, Medium, High; 0..1; PII")."""
        rules = []
        if self.required:
            rules.append("required")
        if self.domain:
            rules.append("one of " + ", ".join(self.domain))
        if self.min is not None or self.max is not None:
            lo = "" if self.min is None else f"{self.min:g}"
            hi = "" if self.max is None else f"{self.max:g}"
            rules.append(f"{lo}..{hi}")
        if self.pii:
            rules.append("PII")
        return "; ".join(rules)

    @property
    def is_date(self) -> bool:
        return self.type in ("DATE", "TIMESTAMP")

    @property
    def is_numeric(self) -> bool:
        return self.type in ("DOUBLE", "INTEGER", "BIGINT")


def _c(name: str, type_: str, group: str, description: str, **kw: object) -> Column:
    return Column(name, type_, group, description, **kw)  # type: ignore[arg-type]


FPR_RECORDS: tuple[Column, ...] = (
    _c("record_id", "VARCHAR", "Connector", "Primary key of the recommendation record (derived from row order when a file has none).",
       origin="connector", label="record id"),
    # Customer data
    _c("customer_id", "VARCHAR", "Customer", "Customer identifier; one customer has many recommendation records.", required=True, label="customer id"),
    _c("customer_name", "VARCHAR", "Customer", "Customer full name.", pii=True, label="customer name"),
    _c("customer_email", "VARCHAR", "Customer", "Customer e-mail address.", pii=True, label="customer e-mail"),
    _c("customer_segment", "VARCHAR", "Customer", "Marketing segment (e.g. Mass Market, Mass Affluent, High Net Worth).", label="segment"),
    _c("customer_lifecycle_stage", "VARCHAR", "Customer", "Relationship lifecycle stage.", domain=LIFECYCLE_STAGES, label="lifecycle stage"),
    _c("customer_lifecycle_stage_transition_date", "DATE", "Customer", "Date the customer entered the current lifecycle stage.", label="lifecycle stage since"),
    _c("account_balance", "DOUBLE", "Customer", "Current account balance (currency units).", label="account balance"),
    # Transaction data
    _c("transaction_history", "VARCHAR", "Transaction", "JSON array of the last six monthly transaction totals, oldest first.", label="monthly transaction totals (last six months)"),
    _c("customer_transaction_value", "DOUBLE", "Transaction", "Total transaction value over the last six months.", min=0, label="transaction value (last six months)"),
    _c("customer_transaction_count", "INTEGER", "Transaction", "Number of transactions over the last six months.", min=0, label="transactions (last six months)"),
    # Product data
    _c("product_id", "VARCHAR", "Product", "Identifier of the recommended product (joins products.product_id).", label="product id"),
    _c("product_name", "VARCHAR", "Product", "Name of the recommended product.", label="product"),
    _c("product_type", "VARCHAR", "Product", "Product family (Checking, Savings, Credit Card, Personal Loan, Mortgage, "
       "Investment, Insurance, Wealth Management).", required=True, label="product type"),
    _c("product_terms", "VARCHAR", "Product", "Headline terms of the product (rate, fee, term).", label="product terms"),
    _c("product_sales_amount", "DOUBLE", "Product", "Amount sold when the recommendation was accepted (deposit, limit, "
       "principal or premium); empty otherwise.", min=0, label="sales amount"),
    _c("product_sales_date", "DATE", "Product", "Date of the sale; empty unless accepted.", label="sale date"),
    # Recommendation data
    _c("product_recommendation", "VARCHAR", "Recommendation", "Recommended action and product, e.g. 'Cross-sell: Travel Rewards Card'.", label="recommendation"),
    _c("product_recommendation_date", "DATE", "Recommendation", "Date the recommendation was made.", label="recommendation date"),
    _c("product_recommendation_status", "VARCHAR", "Recommendation", "Outcome of the recommendation.", required=True,
       domain=STATUSES, label="outcome"),
    _c("recommendation_score", "DOUBLE", "Recommendation", "Model score of the match, 0 (poor) to 1 (excellent).", min=0, max=1, label="recommendation score"),
    # Customer behaviour data
    _c("customer_product_usage", "DOUBLE", "Behavior", "Product usage index, 0 (unused) to 100 (daily use).", min=0, max=100, label="product usage"),
    _c("customer_product_usage_trend", "VARCHAR", "Behavior", "Direction of product usage over the last quarter.", domain=TRENDS, label="usage trend"),
    _c("customer_product_interests", "VARCHAR", "Behavior", "Comma-separated interests (travel, investing, home ownership...).", label="interests"),
    _c("customer_product_affinity", "VARCHAR", "Behavior", "Affinity of the customer for the recommended product.",
       domain=AFFINITY_LEVELS, label="product affinity"),
    _c("customer_product_affinity_trend", "VARCHAR", "Behavior", "Direction of the affinity over the last quarter.", domain=TRENDS, label="affinity trend"),
    # Performance metrics
    _c("customer_satisfaction_score", "INTEGER", "Performance", "Latest satisfaction survey score, 1 to 10.", min=1, max=10, label="satisfaction (1-10)"),
    _c("customer_churn_probability", "DOUBLE", "Performance", "Modelled probability the customer leaves within 12 months, 0 to 1.",
       min=0, max=1, label="churn probability"),
    # Fivetran system columns
    _c("_fivetran_synced", "TIMESTAMP", "Connector", "When the connector last synced the row.", origin="connector", label="synced at"),
    _c("_fivetran_deleted", "BOOLEAN", "Connector", "Soft-delete flag; rows with true are excluded from every analysis.",
       origin="connector", label="soft-deleted"),
    # Extra columns (DESIGN §4)
    _c("source_system", "VARCHAR", "Extra", "Core banking system of record.", domain=SOURCE_SYSTEMS, origin="extra", label="source system"),
    _c("crm_system", "VARCHAR", "Extra", "CRM the recommendation was delivered through.", domain=CRM_SYSTEMS, origin="extra", label="CRM"),
    _c("channel", "VARCHAR", "Extra", "Channel the recommendation was delivered in (Branch, Mobile App, Online Banking...).",
       origin="extra", label="channel"),
    _c("customer_age", "INTEGER", "Extra", "Customer age in years.", min=16, max=110, origin="extra", label="age"),
    _c("annual_income", "DOUBLE", "Extra", "Declared annual income (currency units).", min=0, origin="extra", label="annual income"),
    _c("credit_score", "INTEGER", "Extra", "Credit bureau score, 300 to 850.", min=300, max=850, origin="extra", label="credit score"),
    _c("campaign_contacts", "INTEGER", "Extra", "Number of contacts made with the customer during this campaign, including this one.",
       min=1, origin="extra", label="contacts in this campaign"),
    _c("customer_churned", "BOOLEAN", "Extra", "Whether the customer left within 12 months (the observed outcome the "
       "churn model learns from; the modelled customer_churn_probability is never used as this label).", origin="extra",
       label="churned"),
)

PRODUCTS: tuple[Column, ...] = (
    _c("product_id", "VARCHAR", "Catalogue", "Product identifier.", required=True),
    _c("product_name", "VARCHAR", "Catalogue", "Product name.", required=True),
    _c("product_type", "VARCHAR", "Catalogue", "Product family.", required=True),
    _c("product_terms", "VARCHAR", "Catalogue", "Headline terms."),
    _c("risk_to_customer", "INTEGER", "Matching", "Financial risk the product poses to the customer, 1 (low) to 5 (high).", min=1, max=5),
    _c("risk_to_bank", "INTEGER", "Matching", "Default or loss risk the product poses to the bank, 1 to 5.", min=1, max=5),
    _c("revenue_potential", "INTEGER", "Matching", "Profitability of the product for the bank, 1 to 5.", min=1, max=5),
    _c("customer_value", "INTEGER", "Matching", "Benefit of the product to the customer, 1 to 5.", min=1, max=5),
    _c("lock_in_months", "INTEGER", "Matching", "Contractual lock-in period in months (retention potential).", min=0),
    _c("margin", "DOUBLE", "Matching", "Annual net revenue as a fraction of the sales amount (e.g. 0.012 = 1.2%).", min=0, max=1),
    # optional: the match engine's appropriateness and eligibility gates use them where a catalogue has them
    _c("complexity", "INTEGER", "Matching", "How much knowledge and experience the product needs to be understood, 1 (simple) to 5 (complex).", min=1, max=5),
    _c("min_balance", "DOUBLE", "Eligibility", "Minimum account balance to be eligible (proxy for investable assets); empty = none.", min=0),
    _c("min_income", "DOUBLE", "Eligibility", "Minimum annual income to be eligible; empty = none.", min=0),
    _c("min_age", "INTEGER", "Eligibility", "Minimum customer age in years; empty = none.", min=0, max=120),
    _c("max_age", "INTEGER", "Eligibility", "Maximum customer age in years; empty = none.", min=0, max=120),
)

#: the customers' stated goals (one row per customer), read by the similarity search only: a table of its own so the
#: recommendation records (and every analysis of them) are the same with or without it
CUSTOMER_GOALS: tuple[Column, ...] = (
    _c("customer_id", "VARCHAR", "Customer", "Customer identifier (as in fpr_records).", required=True,
       label="customer id"),
    _c("customer_goals", "VARCHAR", "Customer", "The customer's stated financial goal as the relationship manager noted "
       "it (free text, e.g. 'saving a deposit to buy a first flat'); read by the similarity search.", pii=True,
       label="stated goal"),
)

TABLES: dict[str, tuple[Column, ...]] = {"fpr_records": FPR_RECORDS, "products": PRODUCTS,
                                         "customer_goals": CUSTOMER_GOALS}
#: tables that describe customers for the similarity search, not recommendations: the analysis profile skips them
SIDE_TABLES = ("customer_goals",)
#: FinMatch's own 30 columns (requirements + connector), in document order
CORE_COLUMNS = tuple(c.name for c in FPR_RECORDS if c.origin in ("finmatch", "connector"))
PII_COLUMNS = tuple(c.name for t in (FPR_RECORDS, CUSTOMER_GOALS) for c in t if c.pii)
#: the natural key used to page and order records deterministically
PRIMARY_KEYS = {"fpr_records": "record_id", "products": "product_id"}


def columns_of(table: str) -> tuple[Column, ...] | None:
    """The dictionary for ``table`` or ``None`` for tables we do not describe (loaded as-is)."""
    return TABLES.get(table)


def column(table: str, name: str) -> Column | None:
    for col in TABLES.get(table, ()):
        if col.name == name:
            return col
    return None


def required_columns(table: str) -> tuple[str, ...]:
    """The columns ``table`` must have (in dictionary order); ``()`` for tables we do not describe."""
    return tuple(c.name for c in TABLES.get(table, ()) if c.required)


def column_label(table: str, name: str, labels: Mapping[str, str] | None = None) -> str:
    """What a report calls column ``name`` of ``table``.

    In order: the label the loading mapping gave it (``[labels]`` in the mapping, recorded in ``finmatch_meta`` and
    read back as ``Profile.provenance["labels"]``), the dictionary's label, else the column name itself (an extra
    column kept from a source file is called by its own name, never by a dictionary column's label)."""
    if labels and labels.get(name):
        return labels[name]
    col = column(table, name)
    return col.label if col is not None and col.label else name


def normalise_token(value: str) -> str:
    """Key used to match a raw domain value to its canonical spelling ('in_progress' -> 'in progress')."""
    return " ".join(value.replace("_", " ").replace("-", " ").lower().split())


def schema_text(table: str = "fpr_records", present: set[str] | None = None) -> str:
    """Compact schema description for prompts and docs (only ``present`` columns when given)."""
    lines = []
    for col in TABLES[table]:
        if present is not None and col.name not in present:
            continue
        extra = []
        if col.domain:
            extra.append("values: " + ", ".join(col.domain))
        if col.min is not None or col.max is not None:
            extra.append(f"range: {col.min if col.min is not None else '-inf'}..{col.max if col.max is not None else 'inf'}")
        if col.pii:
            extra.append("PII")
        suffix = f" ({'; '.join(extra)})" if extra else ""
        lines.append(f"- {col.name} {col.type}: {col.description}{suffix}")
    return "\n".join(lines)


TYPE_WORDS = {"DOUBLE": "a number", "INTEGER": "a whole number", "BIGINT": "a whole number", "DATE": "a date (YYYY-MM-DD)",
              "TIMESTAMP": "a timestamp (YYYY-MM-DD HH:MM:SS)", "BOOLEAN": "true or false", "VARCHAR": "text"}


#: stored column types whose every value already is a valid value of a dictionary type (no cast can fail)
_INTEGRAL = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")
_GUARANTEES: dict[str, tuple[str, ...]] = {
    "INTEGER": _INTEGRAL, "BIGINT": _INTEGRAL, "DOUBLE": (*_INTEGRAL, "FLOAT", "DOUBLE", "DECIMAL"),
    "DATE": ("DATE",), "TIMESTAMP": ("TIMESTAMP",), "BOOLEAN": ("BOOLEAN",)}


def type_guaranteed(col: Column, stored: str | None) -> bool:
    """True when a column stored as ``stored`` cannot hold a value that is not of ``col``'s type."""
    if stored is None:
        return False
    base = stored.upper().split("(", 1)[0].strip()
    return base in _GUARANTEES.get(col.type, ())


def value_checks(col: Column, ref: str, stored: str | None = None) -> list[tuple[str, str]]:
    """SQL conditions that flag a bad value of ``col`` (held in ``ref``) and what was expected instead.

    Used by the loader (to refuse a file) and by the profile (to flag data written by other tools). ``stored``:
    the column's type in the table, when known; a type check it makes vacuous is left out (at 10M records
    the vacuous casts were half of the profile's value checks)."""
    out: list[tuple[str, str]] = []
    if col.required:
        out.append((f"{ref} IS NULL", "a value (the column is required)"))
    if type_guaranteed(col, stored):
        pass
    elif col.type in ("INTEGER", "BIGINT"):
        num = f"TRY_CAST({ref} AS DOUBLE)"
        out.append((f"{ref} IS NOT NULL AND ({num} IS NULL OR {num} <> round({num}))", TYPE_WORDS[col.type]))
    elif col.type != "VARCHAR":
        out.append((f"{ref} IS NOT NULL AND TRY_CAST({ref} AS {col.type}) IS NULL", TYPE_WORDS[col.type]))
    if col.domain:
        out.append((f"{ref} IS NOT NULL AND {ref} NOT IN ({', '.join(literal(v) for v in col.domain)})",
                    "one of " + ", ".join(col.domain)))
    if col.min is not None or col.max is not None:
        num = f"TRY_CAST({ref} AS DOUBLE)"
        bounds = []
        if col.min is not None:
            bounds.append(f"{num} < {col.min!r}")
        if col.max is not None:
            bounds.append(f"{num} > {col.max!r}")
        lo = "" if col.min is None else f"{col.min:g}"
        hi = "" if col.max is None else f"{col.max:g}"
        expect = f"a value from {lo} to {hi}" if lo and hi else (f"at least {lo}" if lo else f"at most {hi}")
        out.append((f"{num} IS NOT NULL AND ({' OR '.join(bounds)})", expect))
    return out


def dictionary_markdown() -> str:
    """docs/data-dictionary.md, generated from the tables above (a test keeps the file in sync)."""
    out = ["# Data dictionary", "",
           "Generated by `finmatch data dictionary --markdown` from `finmatch_agents/data/schema.py`, the single "
           "source for load validation, the schema text given to models and these docs.", "",
           "`fpr_records` has one row per product recommendation made to a customer. Its 30 core columns are the "
           "27 named in the FinMatch data requirements plus the connector's `record_id` and the Fivetran system "
           "columns; extra columns are used by analyses when present. Domain values are matched ignoring case, "
           "`_`, `-` and extra spaces when loading ('in_progress' loads as 'In Progress'). A loaded file's columns "
           "that a mapping does not map are kept as extra columns under their own name (see data.md); a mapping's "
           "`[labels]` can rename any column in reports.", ""]
    for name, cols in TABLES.items():
        out += [f"## {name}", "", "| column | type | group | meaning | rules | label in reports |",
                "|---|---|---|---|---|---|"]
        out += [f"| `{c.name}` | {c.type} | {c.group} | {c.description} | {c.rules} | {c.label} |" for c in cols]
        out.append("")
    return "\n".join(out)
