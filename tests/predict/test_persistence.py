"""Saving and loading models: a gradient-boosting model (the path the default data never takes, because the
baseline wins there) and the logistic baseline come back from the registry scoring exactly as they did in
memory; a damaged, foreign or half-written model file is refused with a clear error, never loaded.

The data is built so gradient boosting must win: acceptance depends on whether two inputs have the same
sign (an interaction no linear model can draw) and on a category, with positives rare enough (< 15%) that
class weights and the prior correction are in play.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from finmatch_agents.errors import StorageError
from finmatch_agents.evidence import QueryLog
from finmatch_agents.predict import registry
from finmatch_agents.predict.models import limit_threads
from finmatch_agents.predict.score import score_batch
from finmatch_agents.predict.train import TrainOptions, TrainResult, train_task
from finmatch_agents.warehouse.engine import HARD_ROW_CAP, DuckDBEngine, SandboxLimits

ROWS = 6_000


class Foreign:
    """Any type that is not scikit-learn, numpy or a trusted builtin."""

    def __init__(self) -> None:
        self.payload = [1, 2, 3]


def build_interaction_db(path: Path, seed: int = 11) -> Path:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=ROWS), rng.normal(size=ROWS)
    segment = rng.choice(["Retail", "Premier", "Student"], ROWS)
    logit = -4.3 + 2.8 * ((x1 > 0) ^ (x2 > 0)) + 0.9 * (segment == "Premier")
    accepted = rng.random(ROWS) < 1 / (1 + np.exp(-logit))
    status = np.where(accepted, "Accepted", "Declined").astype(object)
    status[rng.random(ROWS) < 0.05] = "Pending"  # open offers, which batch scoring scores
    table = pa.table({
        "record_id": [f"R{i:06d}" for i in range(ROWS)],
        "customer_id": [f"C{i % 2_000:05d}" for i in range(ROWS)],
        "product_id": ["SAV-01"] * ROWS, "product_type": ["Savings"] * ROWS,
        "product_recommendation_date": pa.array(np.datetime64("2024-01-01") + (np.arange(ROWS) // 20)
                                                .astype("timedelta64[D]")),
        "product_recommendation_status": pa.array(status, pa.string()),
        "x1": x1, "x2": x2, "customer_segment": segment})
    con = duckdb.connect(str(path))
    con.register("t", table)
    con.execute("CREATE TABLE fpr_records AS SELECT * FROM t")
    con.close()
    return path


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainResult]:
    db = build_interaction_db(tmp_path_factory.mktemp("interaction") / "interaction.duckdb")
    engine = DuckDBEngine(db, SandboxLimits(max_rows=HARD_ROW_CAP, threads=1))
    with engine, limit_threads(1):
        result = train_task(engine, QueryLog(), "fpr_records", "conversion",
                            TrainOptions(folds=2, kfold_rows=1_500, resamples=100))
    return db, result


def _test_rows(db: Path, result: TrainResult) -> tuple[np.ndarray, np.ndarray]:
    """The holdout's inputs and outcomes, read independently of the pipeline (SQL, then numpy)."""
    start = result.split["test_from"]
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT x1, x2, customer_segment, (product_recommendation_status = 'Accepted')::INT "
                           "FROM fpr_records WHERE product_recommendation_status IN ('Accepted', 'Declined') AND "
                           f"product_recommendation_date >= DATE '{start}' ORDER BY product_recommendation_date, "
                           "record_id").fetchall()
    cats = {f.name: f.categories for f in result.features if f.kind == "categorical"}["customer_segment"]
    names = [f.name for f in result.features]
    X = np.array([[r[0], r[1], float(cats.index(r[2]))] for r in rows])[:, [("x1", "x2", "customer_segment")
                                                                             .index(n) for n in names]]
    return X, np.array([r[3] for r in rows])


def test_gradient_boosting_is_kept_saved_loaded_and_scores_as_in_memory(fitted, tmp_path: Path) -> None:
    db, result = fitted
    assert result.kept == "gbm", result.verdict  # the interaction defeats the linear baseline
    diff = result.comparisons["gbm_minus_logistic_auc"]
    assert diff["low"] > 0.05
    gbm = result.models["gbm"]
    assert gbm.odds_factor < 1  # rare positives: class weights, corrected back to probabilities
    info = registry.save(tmp_path, result, db=str(db), fingerprint="test")
    assert info.meta["kind"] == "gbm" and info.meta["odds_factor"] == gbm.odds_factor
    assert not list((tmp_path / "models").glob(".*"))  # no temporary folder left behind
    loaded = registry.load(registry.get(tmp_path, info.id))  # from disk, not the object just saved
    assert isinstance(loaded.estimator, HistGradientBoostingClassifier) and loaded.kind == "gbm"
    assert loaded.estimator is not gbm.estimator and loaded.iterations == gbm.iterations
    X, y = _test_rows(db, result)
    assert len(y) == result.split["test_rows"]
    np.testing.assert_array_equal(loaded.predict(X), gbm.predict(X))  # bit for bit, categories included
    # the stored holdout AUC is what the loaded model scores on those rows (sklearn, on rows read by SQL)
    assert abs(roc_auc_score(y, loaded.predict(X)) - info.holdout_auc()) < 1e-12
    # batch scoring through the sandbox with the loaded model: every offer, the same scores
    with DuckDBEngine(db, SandboxLimits(max_rows=HARD_ROW_CAP)) as engine:
        scored = score_batch(engine, QueryLog(), "fpr_records", info, loaded, every_offer=True)
    assert len(scored.scores) == ROWS
    np.testing.assert_array_equal(scored.scores, gbm.predict(scored.frame.X))
    assert scored.scores.min() > 0 and scored.scores.max() < 1


def test_the_logistic_baseline_round_trips_too(fitted, tmp_path: Path) -> None:
    db, result = fitted
    as_logistic = dataclasses.replace(result, kept="logistic")
    info = registry.save(tmp_path, as_logistic, db=str(db), fingerprint="test")
    loaded = registry.load(info)
    X, _ = _test_rows(db, result)
    np.testing.assert_array_equal(loaded.predict(X), result.models["logistic"].predict(X))
    assert info.meta["kind"] == "logistic"


def test_damaged_foreign_and_wrong_format_files_are_refused(fitted, tmp_path: Path) -> None:
    import skops.io as sio

    db, result = fitted
    info = registry.save(tmp_path, result, db=str(db), fingerprint="test")
    path = info.path / registry.MODEL_FILE
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # a half-copied file
    with pytest.raises(StorageError, match="not a readable skops file"):
        registry.load(info)

    path.unlink()
    sio.dump(Foreign(), path)
    with pytest.raises(StorageError, match="not scikit-learn or numpy") as refused:
        registry.load(info)
    assert "Foreign" in refused.value.message
    path.write_bytes(good)
    assert registry.load(info).kind == "gbm"  # the genuine file loads again
    meta = json.loads((info.path / registry.META_FILE).read_text())
    (info.path / registry.META_FILE).write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(StorageError, match="format 99"):
        registry.load(registry.get(tmp_path, info.id))


def test_a_failed_save_leaves_no_model(fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import skops.io as sio

    db, result = fitted

    def full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sio, "dump", full)
    with pytest.raises(StorageError, match="nothing was saved"):
        registry.save(tmp_path, result, db=str(db), fingerprint="test")
    assert registry.list_models(tmp_path) == [] and list((tmp_path / "models").iterdir()) == []


def test_a_damaged_promoted_model_is_exit_3_naming_it(cli, fitted, tmp_path: Path) -> None:
    db, result = fitted
    info = registry.save(Path("data"), result, db=str(db), fingerprint="test")
    registry.promote(Path("data"), info.id)
    (info.path / registry.MODEL_FILE).write_bytes(b"not a zip")
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(db, copy)
    out = cli("predict", "score", "conversion", "--db", copy)
    assert out.exit_code == 3 and info.id in out.stderr and "skops" in out.stderr
    with duckdb.connect(str(copy), read_only=True) as con:
        assert "scores" not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}  # nothing written
    promoted = Path("data", "models", registry.PROMOTED)
    promoted.write_text("{not json")
    out = cli("predict", "score", "conversion", "--db", copy)
    assert out.exit_code == 3 and "promoted.json" in out.stderr


def test_rows_wider_than_estimated_are_read_again_in_more_parts(fitted, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox refuses a partition above its byte cap; the read retries in more parts and gets the same
    rows in the same (time) order, and says so in the query log."""
    from finmatch_agents.predict import frame as frame_module
    from finmatch_agents.predict.tasks import get_task
    from finmatch_agents.predict.train import load_frame
    from finmatch_agents.warehouse import engine as engine_module

    db, _ = fitted
    task = get_task("conversion")
    with DuckDBEngine(db, SandboxLimits(max_rows=HARD_ROW_CAP)) as engine:
        whole, _ = load_frame(engine, QueryLog(), "fpr_records", task, set())
    monkeypatch.setattr(engine_module, "MAX_RESULT_BYTES", 150_000)  # about a third of the rows' bytes
    log = QueryLog()
    with DuckDBEngine(db, SandboxLimits(max_rows=HARD_ROW_CAP)) as engine:
        parted, _ = load_frame(engine, log, "fpr_records", task, set())
    assert frame_module.parts_for(whole.n, len(whole.features)) == 1
    assert [r.rule for r in log.records if r.status == "refused"] == ["result-size"]
    assert any("(part 4 of 4)" in r.title for r in log.records if r.status == "ok")
    np.testing.assert_array_equal(parted.row_id, whole.row_id)
    np.testing.assert_array_equal(parted.X, whole.X)
    np.testing.assert_array_equal(parted.y, whole.y)
    assert list(whole.row_id[:3]) == sorted(whole.row_id[whole.day == whole.day[0]])[:3]  # date, then record id
