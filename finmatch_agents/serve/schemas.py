"""Request and response models of the API (OpenAPI at ``/docs``).

Responses carry the same data the CLI's ``--json`` prints, built by the same code (``match customer``,
``predict score --customer``, ``ask``, ``history``); the models type their top level and the parts clients
switch on, and allow the rest (``extra="allow"``), so a field the core adds reaches clients without a
change here. Findings are the core's own :class:`finmatch_agents.records.Finding` record.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from finmatch_agents.records import Finding

MAX_QUESTION = 2_000


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- errors -------------------------------------------------------------------------------------------------
class ErrorDetail(Open):
    code: str = Field(description="Stable machine-readable code (docs/serve.md lists them).")
    title: str = Field(description="The CLI's title of the error.")
    message: str
    hint: str | None = None
    status: int
    field: str | None = Field(None, description="422: the request field at fault.")
    close: list[str] | None = Field(None, description="404: the closest known ids.")


class ErrorResponse(BaseModel):
    error: ErrorDetail


# -- matching -----------------------------------------------------------------------------------------------
class Gate(Open):
    rule: str
    status: Literal["pass", "fail", "skipped"]
    reason: str


class ProductDecision(Open):
    product_id: str
    product_name: str
    product_type: str
    gates: list[Gate]
    suitable: bool
    failed: list[str] = Field(description="Rule ids of the gates the product fails.")
    distance: float | None
    points: float
    rank: int | None
    customer_interest_rank: int | None


class Offer(Open):
    rank: int
    product_id: str
    product_name: str
    distance: float | None
    points: float
    customer_interest_rank: int | None


class MatchResponse(Open):
    """``finmatch match customer ID --json``: metrics, every product's gates and distance, the offers."""

    customer_id: str
    mode: Literal["active", "passive"]
    mode_reason: str
    suitable_products: int
    offers: list[Offer]
    customer_interest_first: str | None
    bank_weights_change_first: bool
    products: list[ProductDecision]
    notes: list[str]
    params: dict[str, Any]
    metrics: list[dict[str, Any]]


# -- scores -------------------------------------------------------------------------------------------------
class Reason(Open):
    feature: str
    value: str
    typical: str
    effect: float
    direction: Literal["raises", "lowers"]


class ScoredRow(Open):
    row_id: str
    score: float = Field(description="Calibrated probability (conversion: of accepting; churn: of leaving).")
    reasons: list[Reason]
    product_id: str | None = None


class TaskScore(Open):
    model_id: str
    task: str
    holdout_auc: float | None
    rows: list[ScoredRow]


class ScoresResponse(Open):
    customer_id: str
    scores: dict[str, TaskScore]
    unavailable: dict[str, str] = Field(default_factory=dict, description="Tasks without a promoted model, and why.")


# -- ask ----------------------------------------------------------------------------------------------------
class AskRequest(Strict):
    question: str = Field(min_length=1, max_length=MAX_QUESTION, description="A question, or an open slash command "
                          "(/sql, /tables, /describe, /metrics, /explore).")
    session: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                                description="Chat session to record the turn in (default api-<key name>).")
    model: str | None = Field(None, max_length=200, description="A model from finmatch.toml, or offline "
                              "(default: the server's FINMATCH_MODEL).")


class AskResponse(Open):
    """``finmatch ask --json``."""

    question: str
    session: str
    kind: Literal["verified", "compiled", "model", "command", "unavailable", "unknown", "error"]
    text: str
    markdown: str
    tables: list[dict[str, Any]]
    query_ids: list[str]
    matched: str | None
    interpretation: str | None
    sql: str | None
    structured: dict[str, Any] | None
    exit_code: int


# -- runs ---------------------------------------------------------------------------------------------------
class RunStartRequest(Strict):
    focus: list[str] = Field(default_factory=lambda: ["all"], max_length=8,
                             description="Focus agents (performance, optimization, financial-impact, strategy) or all.")
    formats: list[Literal["md", "html"]] = Field(default_factory=lambda: ["md"], max_length=2)  # type: ignore[arg-type]


class RunStarted(BaseModel):
    run_id: str
    status: str
    events: str = Field(description="The run's server-sent events.")
    run: str


class RunRowModel(Open):
    run_id: str
    status: str
    created_at: str
    focus: list[str]
    model: str
    report_path: str | None = None


class RunDetail(RunRowModel):
    steps: list[dict[str, Any]]
    findings: list[Finding]
    live: bool = Field(description="Running in the worker that answered.")


# -- recommendations, similar, feedback ---------------------------------------------------------------------
CustomerIdStr = Annotated[str, Field(min_length=1, max_length=200)]


class SimilarRequest(Strict):
    question: str | None = Field(None, min_length=1, max_length=MAX_QUESTION)
    like: list[CustomerIdStr] | None = Field(None, min_length=1, max_length=100,
                                             description="Customer ids (or one id): their look-alikes.")
    top: int = Field(10, ge=1, le=1000)

    @field_validator("like", mode="before")
    @classmethod
    def _one_id(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class FeedbackRequest(Strict):
    customer_id: str = Field(min_length=1, max_length=200)
    product_id: str = Field(min_length=1, max_length=200)
    rating: int | None = Field(None, ge=1, le=5)
    accepted: bool | None = None
    note: str | None = Field(None, max_length=2_000)
    model_id: str | None = Field(None, max_length=200)


class Health(Open):
    status: Literal["ok", "loading", "degraded"]
    version: str
    engines: dict[str, dict[str, Any]]
