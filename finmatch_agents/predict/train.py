"""Train and evaluate one task honestly: time-ordered holdout first, random k-fold beside it.

1. **Rows and label**: the task's rows in time order; too few positives or negatives (< 50), a missing or
   constant label column, or no usable input stop here with exit 3, naming the task, the column, the count.
2. **Leakage guard**: the rules of :mod:`predict.columns`, then every input alone on the holdout: one whose
   AUC on its own is at least 0.9 is flagged and left out unless ``--allow-feature`` names it.
3. **Time-ordered holdout** (the headline): fit on the earlier rows, test on the latest share (by date; a
   date never straddles the cut). The logistic baseline, the gradient-boosted model and the bank's own
   score are compared on the same holdout rows, with bootstrap intervals.
4. **Promotion gate**: the gradient-boosted model is kept only if its holdout AUC beats the baseline's with a
   paired 95% bootstrap interval above 0; otherwise the baseline is kept and the result says "no clear
   difference" (or that it is worse).
5. **Random k-fold** (stratified, seeded) on a sample of at most ``kfold_rows`` rows, reported beside the
   holdout: the gap between the two is how much a random split would flatter the model.
6. Permutation importance of the kept model on the holdout, the reference row for per-customer reasons
   and the training snapshot for monitoring.

The model saved is the one evaluated: it was fitted on the training window only, so its holdout metrics
are out-of-sample figures for that very artefact.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.data import queries
from finmatch_agents.errors import DataError, UsageError
from finmatch_agents.features import present_columns
from finmatch_agents.predict import explain, monitor
from finmatch_agents.predict.columns import Candidate, Exclusion, Plan, date_exclusions, plan_columns
from finmatch_agents.predict.frame import Feature, Frame, assemble, fetch, layer_values, learn_features, order_column
from finmatch_agents.predict.metrics import Scorecard, auc_difference, scorecard, single_feature_auc
from finmatch_agents.predict.models import EARLY_STOPPING_ROWS, KINDS, Fitted, fit, require_sklearn
from finmatch_agents.predict.tasks import Task, get_task
from finmatch_agents.warehouse import named

if TYPE_CHECKING:
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.warehouse.engine import Engine

MIN_CLASS = 50
LEAK_AUC = 0.9
SNAPSHOT_ROWS = 200_000
Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainOptions:
    holdout: float = 0.2
    folds: int = 5
    kfold_rows: int = 50_000
    seed: int = 42
    allow: tuple[str, ...] = ()
    resamples: int = 200

    def __post_init__(self) -> None:
        if not 0.05 <= self.holdout <= 0.5:
            raise UsageError(f"--holdout {self.holdout:g}: use a share from 0.05 to 0.5")
        if self.folds == 1 or self.folds < 0 or self.folds > 20:
            raise UsageError(f"--folds {self.folds}: use 0 (no k-fold) or 2 to 20")

    def to_dict(self) -> dict[str, Any]:
        return {"holdout": self.holdout, "folds": self.folds, "kfold_rows": self.kfold_rows, "seed": self.seed,
                "allow": list(self.allow), "resamples": self.resamples}


@dataclass
class TrainResult:
    task: Task
    table: str
    frame: Frame
    split: dict[str, Any]
    plan: Plan
    single_auc: dict[str, float]
    models: dict[str, Fitted]
    holdout: dict[str, Scorecard]  # logistic, gbm, bank_score
    comparisons: dict[str, Any]
    kept: str
    verdict: str
    kfold: dict[str, Any]
    importance: list[dict[str, Any]]
    reference: list[float]
    snapshot: dict[str, Any]
    options: TrainOptions
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def features(self) -> list[Feature]:
        return self.frame.features

    def summary(self) -> dict[str, Any]:
        """Everything the report, the registry and ``--json`` show (no arrays)."""
        return {
            "task": self.task.name, "unit": self.task.unit, "table": self.table, "rows": self.frame.n,
            "positives": int(self.frame.y.sum()) if self.frame.y is not None else None,
            "split": self.split, "features": [f.to_dict() for f in self.features],
            "excluded": [e.to_dict() for e in self.plan.exclusions], "leaky": self.plan.leaky,
            "single_feature_auc": dict(sorted(self.single_auc.items(), key=lambda kv: -kv[1])),
            "holdout": {k: v.to_dict() for k, v in self.holdout.items()}, "comparisons": self.comparisons,
            "kept": self.kept, "verdict": self.verdict, "kfold": self.kfold, "importance": self.importance,
            "iterations": {k: m.iterations for k, m in self.models.items()},
            "class_weights": {k: m.odds_factor != 1.0 for k, m in self.models.items()},
            "options": self.options.to_dict(), "timings": self.timings, "notes": self.notes,
            "queries": self.frame.queries,
        }


def _counts(engine: Engine, log: QueryLog, task: Task, table: str, present: set[str]) -> tuple[int, int, str]:
    if task.label not in present:
        raise DataError(f"task {task.name}: {table} has no column {task.label}, the outcome the model learns",
                        column=task.label, hint="load a file that has the outcome (docs/predict.md says which "
                        "column each task needs)")
    res = queries.run(engine, log, task.counts_query, present=present, table=table)
    if isinstance(res, named.Skipped):
        raise DataError(f"task {task.name}: {res.reason}", column=res.absent[0])
    row = res.first()
    rows, pos = (int(row["offers"]), int(row["accepted"])) if task.name == "conversion" else \
        (int(row["labelled"]), int(row["churned"]))
    neg = rows - pos
    if rows == 0 or pos == 0 or neg == 0:
        what = "no labelled rows" if rows == 0 else ("only one class: " + (f"all {rows:,} rows are positive" if neg == 0
                                                                          else f"all {rows:,} rows are negative"))
        raise DataError(f"task {task.name}: the outcome {task.label} is constant ({what})", column=task.label)
    if min(pos, neg) < MIN_CLASS:
        which = "positives" if pos < neg else "negatives"
        raise DataError(f"task {task.name}: only {min(pos, neg):,} {which} ({task.positive if pos < neg else 'not'}) "
                        f"in {rows:,} rows of {task.label}; a model needs at least {MIN_CLASS} of each",
                        column=task.label)
    return rows, pos, res.id


def load_frame(engine: Engine, log: QueryLog, table: str, task: Task, allow: set[str]) -> tuple[Frame, Plan]:
    """The task's labelled rows with every candidate input, and the plan of what was excluded by rule."""
    present = present_columns(engine, table)
    rows, _, count_id = _counts(engine, log, task, table, present)
    plan = plan_columns(task, engine.columns(table), allow)
    column = order_column(present)
    queries_used = {task.counts_query: count_id}
    if plan.dates:
        res = queries.run(engine, log, "predict/dates_after", present=present, table=table, column=column,
                          dates=plan.dates)
        later = res.first() if not isinstance(res, named.Skipped) else {}
        if not isinstance(res, named.Skipped):
            queries_used["predict/dates_after"] = res.id
        date_exclusions(plan, {k: int(v or 0) for k, v in later.items()})
    unknown = sorted(allow - {c.name for c in plan.candidates})  # candidates may be allowed past the AUC guard
    if unknown:
        why = {e.column: e for e in plan.exclusions}
        details = [f"{n}: {why[n].rule}, {why[n].reason}" if n in why else f"{n}: not a column of {table}"
                   for n in unknown]
        raise UsageError("--allow-feature: cannot allow " + "; ".join(details),
                         hint="only after-outcome, bank-score and leak-auc exclusions can be allowed")
    wanted = [c.name for c in plan.candidates if c.source == "records"]
    if task.bank_score in present and task.bank_score not in wanted:
        wanted.append(task.bank_score)
    cols, qid = fetch(engine, log, task.frame_query, present, {"table": table, "column": column, "features": wanted},
                      rows, len(wanted))
    queries_used[task.frame_query] = qid
    features = learn_features(cols, plan.candidates, plan)
    layer: dict[str, np.ndarray] = {}
    layer_names = [c.name for c in plan.candidates if c.source == "features"]
    if layer_names:
        ids = cols.objects("__customer")
        layer, absent, layer_queries = layer_values(engine, log, table, present, ids, layer_names)
        queries_used.update(layer_queries)
        for name in layer_names:
            x = layer.get(name)
            known = x[~np.isnan(x)] if x is not None else np.zeros(0)
            if name in absent:
                plan.exclude(name, "unusable", f"absent from the customer feature layer: {absent[name]}")
            elif not len(known) or known.min() == known.max():
                plan.exclude(name, "unusable", "empty or constant in the customer feature layer")
            else:
                features.append(Feature(name, "numeric", "features"))
    if not features:
        raise DataError(f"task {task.name}: no usable input column in {table} ({len(plan.exclusions)} excluded: "
                        + "; ".join(f"{e.column} ({e.rule})" for e in plan.exclusions[:8]) + ")",
                        hint="`finmatch predict evaluate TASK --json` lists every exclusion and its reason")
    X, y = assemble(task, cols, features, layer, labelled=True)
    bank = cols.floats(task.bank_score) if task.bank_score in present else None
    frame = Frame(task=task.name, X=X, y=y, rix=cols.ints("__rix"), day=cols.floats("__day"),
                  row_id=cols.objects("__row"), features=features, bank_score=bank, queries=queries_used)
    return frame, plan


def time_split(frame: Frame, holdout: float) -> tuple[np.ndarray, dict[str, Any]]:
    """Boolean mask of the holdout rows: the latest ``holdout`` share, cut at a date boundary when dated."""
    n = frame.n
    cut = n - max(1, round(holdout * n))
    dated = not np.isnan(frame.day).all()
    if dated:
        day = np.nan_to_num(frame.day, nan=-np.inf)
        cutoff = day[cut]
        test = day >= cutoff
        if test.all() or not test.any():
            test = np.arange(n) >= cut
            dated = False
    else:
        test = np.arange(n) >= cut
    info: dict[str, Any] = {"kind": "time-ordered", "by": "date" if dated else "file order (record id)",
                            "train_rows": int((~test).sum()), "test_rows": int(test.sum()), "share": holdout}
    if dated:
        import datetime as dt

        def d(x: float) -> str:
            return (dt.date(1970, 1, 1) + dt.timedelta(days=int(x))).isoformat()

        known = frame.day[~np.isnan(frame.day)]
        info.update({"first_date": d(known.min()), "test_from": d(frame.day[test][~np.isnan(frame.day[test])].min()),
                     "last_date": d(known.max())})
    else:
        info.update({"first_row": str(frame.row_id[0]), "test_from_row": str(frame.row_id[np.argmax(test)]),
                     "last_row": str(frame.row_id[-1])})
    assert frame.y is not None
    for side, mask in (("train", ~test), ("test", test)):
        pos = int(frame.y[mask].sum())
        if pos == 0 or pos == int(mask.sum()):
            raise DataError(f"task {frame.task}: the {side} window ({int(mask.sum()):,} rows) has only one class of "
                            "the outcome, so the holdout cannot measure anything", hint="try another --holdout share")
        info[f"{side}_positives"] = pos
    return test, info


def _category_rates(x_train: np.ndarray, y_train: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    """A category's positive rate in the training rows (smoothed), as a score for the single-input AUC."""
    ok = ~np.isnan(x_train)
    codes = x_train[ok].astype(np.int64)
    pos = np.bincount(codes, y_train[ok], minlength=k)
    cnt = np.bincount(codes, minlength=k)
    prior = y_train.mean()
    rate = (pos + 10 * prior) / (cnt + 10)
    out = np.full(len(x), np.nan)
    okx = ~np.isnan(x)
    out[okx] = rate[x[okx].astype(np.int64)]
    return out


def leakage_guard(frame: Frame, test: np.ndarray, plan: Plan, allow: set[str]) -> dict[str, float]:
    """Single-input holdout AUCs; inputs at or above :data:`LEAK_AUC` leave the frame unless allowed."""
    assert frame.y is not None
    y_train, y_test = frame.y[~test], frame.y[test]
    aucs: dict[str, float] = {}
    drop = []
    for j, f in enumerate(frame.features):
        x = frame.X[:, j]
        score = _category_rates(x[~test], y_train, x[test], len(f.categories)) if f.kind == "categorical" \
            else x[test]
        auc = single_feature_auc(y_test, score)
        aucs[f.name] = auc
        if not math.isnan(auc) and auc >= LEAK_AUC:
            if f.name in allow:
                plan.candidates = [Candidate(c.name, c.kind, c.source, c.allowed or "leak-auc")
                                   if c.name == f.name else c for c in plan.candidates]
            else:
                plan.exclusions.append(_leak(f.name, auc))
                drop.append(j)
    if drop:
        keep = [j for j in range(len(frame.features)) if j not in drop]
        frame.X = frame.X[:, keep]
        frame.features = [frame.features[j] for j in keep]
    return aucs


def _leak(name: str, auc: float) -> Exclusion:
    return Exclusion(name, "leak-auc", f"alone it separates the holdout outcomes with AUC {auc:.3f} (≥ {LEAK_AUC}): "
                     "too good to be known before the outcome")


def _verdict(diff: Any) -> tuple[str, str]:
    if diff.low > 0:
        return "gbm", (f"gradient boosting beats the logistic baseline on the holdout: AUC +{diff.value:.3f} "
                       f"(95% interval {diff.low:+.3f} to {diff.high:+.3f})")
    if diff.high < 0:
        return "logistic", (f"gradient boosting is worse than the logistic baseline on the holdout: AUC "
                            f"{diff.value:+.3f} (95% interval {diff.low:+.3f} to {diff.high:+.3f}); the baseline "
                            "is kept")
    return "logistic", (f"no clear difference between gradient boosting and the logistic baseline on the holdout: "
                        f"AUC {diff.value:+.3f} (95% interval {diff.low:+.3f} to {diff.high:+.3f}); the simpler "
                        "baseline is kept")


def kfold(frame: Frame, options: TrainOptions, iterations: int | None = None) -> dict[str, Any]:
    """Random stratified k-fold AUC of both model types on a seeded sample of the rows.

    On folds too small to early-stop (under ``EARLY_STOPPING_ROWS`` training rows), gradient boosting is
    refitted with the holdout model's number of rounds (``iterations``, found by early stopping on the
    training window) instead of all ``max_iter`` rounds; larger folds early-stop as the holdout model did
    (fixing the rounds there cost more: the holdout model on 700k rows runs many more rounds than a
    40k-row fold needs)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    if options.folds == 0:
        return {"folds": 0, "note": "k-fold skipped (--folds 0)"}
    assert frame.y is not None
    rng = np.random.default_rng(options.seed)
    rows = np.sort(rng.choice(frame.n, size=min(frame.n, options.kfold_rows), replace=False))
    X, y = frame.X[rows], frame.y[rows]
    folds = StratifiedKFold(n_splits=options.folds, shuffle=True, random_state=options.seed)
    aucs: dict[str, list[float]] = {k: [] for k in KINDS}
    fixed: int | None = None  # the rounds the small folds' gradient boosting was given, if any
    for train_idx, test_idx in folds.split(X, y):
        for kind in KINDS:
            small = kind == "gbm" and len(train_idx) < EARLY_STOPPING_ROWS
            fixed = iterations if small else fixed
            m = fit(kind, X[train_idx], y[train_idx], frame.features, options.seed, iterations if small else None)
            aucs[kind].append(float(roc_auc_score(y[test_idx], m.predict(X[test_idx]))))
    return {"folds": options.folds, "rows": len(rows), "sampled": len(rows) < frame.n, "gbm_fixed_rounds": fixed,
            "models": {k: {"mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v)), "folds": v}
                       for k, v in aucs.items()}}


def train_task(engine: Engine, log: QueryLog, table: str, task_name: str, options: TrainOptions | None = None,
               progress: Progress | None = None) -> TrainResult:
    """Everything above, for one task. Nothing is saved here (see :mod:`predict.registry`)."""
    require_sklearn()
    options = options or TrainOptions()
    say = progress or (lambda _m: None)
    task = get_task(task_name)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    say("reading the rows")
    allow = set(options.allow)
    frame, plan = load_frame(engine, log, table, task, allow)
    timings["read"] = time.perf_counter() - t0
    test, split = time_split(frame, options.holdout)
    say("leakage guard")
    single = leakage_guard(frame, test, plan, allow)
    if not frame.features:
        raise DataError(f"task {task.name}: every input was excluded by the leakage guard",
                        hint="`--allow-feature NAME` keeps a flagged input if you know it is available in time")
    assert frame.y is not None
    X_train, y_train, X_test, y_test = frame.X[~test], frame.y[~test], frame.X[test], frame.y[test]
    models: dict[str, Fitted] = {}
    cards: dict[str, Scorecard] = {}
    preds: dict[str, np.ndarray] = {}
    for kind in KINDS:
        say(f"fitting {kind}")
        t = time.perf_counter()
        models[kind] = fit(kind, X_train, y_train, frame.features, options.seed)
        timings[f"fit_{kind}"] = time.perf_counter() - t
        preds[kind] = models[kind].predict(X_test)
    say("holdout metrics")
    t = time.perf_counter()
    for i, kind in enumerate(KINDS):
        cards[kind] = scorecard(y_test, preds[kind], seed=options.seed + 10 * i, resamples=options.resamples)
    diff = auc_difference(y_test, preds["gbm"], preds["logistic"], seed=options.seed, resamples=options.resamples)
    kept, verdict = _verdict(diff)
    comparisons: dict[str, Any] = {"gbm_minus_logistic_auc": diff.to_dict()}
    notes: list[str] = []
    if frame.bank_score is not None:
        b = frame.bank_score[test]
        ok = ~np.isnan(b)
        if ok.sum() >= 2 and 0 < y_test[ok].sum() < ok.sum():
            cards["bank_score"] = scorecard(y_test[ok], b[ok], probability=False, seed=options.seed + 30,
                                            resamples=options.resamples)
            vs = auc_difference(y_test[ok], preds[kept][ok], b[ok], seed=options.seed + 40, resamples=options.resamples)
            comparisons["kept_minus_bank_score_auc"] = vs.to_dict()
            comparisons["bank_score"] = task.bank_score
            if ok.sum() < len(b):
                notes.append(f"the bank's {task.bank_score} is empty on {len(b) - int(ok.sum()):,} holdout rows; it is "
                             "compared on the others")
    timings["metrics"] = time.perf_counter() - t
    say("random k-fold")
    t = time.perf_counter()
    folds = kfold(frame, options, models["gbm"].iterations)
    timings["kfold"] = time.perf_counter() - t
    say("permutation importance")
    t = time.perf_counter()
    importance = explain.permutation(models[kept], X_test, y_test, frame.features, options.seed)
    timings["importance"] = time.perf_counter() - t
    reference = explain.reference_row(X_train, frame.features)
    t = time.perf_counter()
    # the monitoring snapshot (PSI bins) from at most SNAPSHOT_ROWS training rows, a seeded sample: deciles
    # of 200,000 rows are as good as of all of them, and scoring every training row cost seconds at 1M
    rows = np.arange(len(X_train))
    if len(rows) > SNAPSHOT_ROWS:
        rows = np.sort(np.random.default_rng(options.seed).choice(len(rows), SNAPSHOT_ROWS, replace=False))
    snap = monitor.snapshot(X_train[rows], frame.features, models[kept].predict(X_train[rows]))
    timings["snapshot"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    if plan.leaky:
        notes.append("trained with input(s) known only after the outcome (" + ", ".join(plan.leaky) + "): the figures "
                     "overstate what a model can know in time, and this model cannot be promoted")
    return TrainResult(task=task, table=table, frame=frame, split=split, plan=plan, single_auc=single, models=models,
                       holdout=cards, comparisons=comparisons, kept=kept, verdict=verdict, kfold=folds,
                       importance=importance, reference=reference, snapshot=snap, options=options, timings=timings,
                       notes=notes)
