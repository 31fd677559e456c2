"""Batch scoring encodes the text inputs in SQL (each value's position in the model's vocabulary, mapped to
the input's category index in numpy). These tests hold it to the encoding the models were trained with: the
matrix and the scores equal those of an independent reference (rows read as Python tuples, each text value
looked up in the input's stored category list, NaN for missing or unknown), bit for bit, on data with
unknown categories, missing values, a value that is a category of another input only, and a product the
model never saw.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest

from finmatch_agents.evidence import QueryLog
from finmatch_agents.predict import registry
from finmatch_agents.predict.frame import Feature, decode_positions, encode_category, vocabulary
from finmatch_agents.predict.models import limit_threads
from finmatch_agents.predict.registry import ModelInfo
from finmatch_agents.predict.score import score_batch, score_customer, scoring_frame
from finmatch_agents.predict.train import TrainOptions, TrainResult, train_task
from finmatch_agents.warehouse.engine import HARD_ROW_CAP, DuckDBEngine, SandboxLimits

TABLE = "fpr_records"


@pytest.fixture(scope="module")
def trained_result(match_db: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainResult]:
    """Both model types fitted on the synthetic match data; then the data is changed under them."""
    db = tmp_path_factory.mktemp("encoding") / "match.duckdb"
    shutil.copyfile(match_db, db)
    db.chmod(0o644)
    engine = DuckDBEngine(db, SandboxLimits(max_rows=HARD_ROW_CAP, threads=1))
    with engine, limit_threads(1):
        result = train_task(engine, QueryLog(), TABLE, "conversion", TrainOptions(folds=0, resamples=20))
    cats = {f.name: f.categories for f in result.features if f.kind == "categorical"}
    assert {"channel", "customer_segment", "product_id"} <= set(cats)
    other = next(c for c in cats["channel"] if c not in cats["customer_segment"])  # another input's category
    with duckdb.connect(str(db)) as con:
        con.execute(f"UPDATE {TABLE} SET channel = 'Carrier pigeon' WHERE hash(record_id) % 7 = 0")  # unseen
        con.execute(f"UPDATE {TABLE} SET customer_segment = NULL WHERE hash(record_id) % 11 = 0")  # missing
        con.execute(f"UPDATE {TABLE} SET customer_segment = ? WHERE hash(record_id) % 13 = 0", [other])
        con.execute(f"UPDATE {TABLE} SET product_id = 'NEW-PRODUCT', account_balance = NULL "
                    "WHERE hash(record_id) % 17 = 0")
        con.execute(f"UPDATE {TABLE} SET product_recommendation_date = NULL WHERE hash(record_id) % 19 = 0")
    return db, result


def reference(db: Path, features: list[Feature], *, customer: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(record ids, inputs) of every offer (or one customer's open offers), in time order, encoded from the
    text as at training: Python tuples, each value looked up in its input's category list."""
    names = [f.name for f in features]
    where = ("product_recommendation_status IN ('Pending', 'In Progress') AND customer_id = ?" if customer
             else "true")
    select = ", ".join(f'"{n}"' for n in names)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(f"SELECT record_id, {select} FROM {TABLE} WHERE NOT coalesce(_fivetran_deleted, false) "
                           f"AND {where} ORDER BY product_recommendation_date NULLS LAST, record_id",
                           [customer] if customer else []).fetchall()

    def encode(f: Feature, v: object) -> float:
        if v is None:
            return np.nan
        if f.kind == "numeric":
            return float(v)  # type: ignore[arg-type]
        return float(f.categories.index(v)) if v in f.categories else np.nan

    X = np.array([[encode(f, v) for f, v in zip(features, row[1:], strict=True)] for row in rows], dtype=float)
    return np.array([r[0] for r in rows], dtype=object), X.reshape(len(rows), len(features))


def saved(result: TrainResult, kind: str, state: Path) -> tuple[ModelInfo, object]:
    info = registry.save(state, dataclasses.replace(result, kept=kind), db="test", fingerprint="test")
    return info, registry.load(info)


@pytest.mark.parametrize("kind", ["gbm", "logistic"])
def test_batch_scores_equal_the_text_encoding_bit_for_bit(trained_result, tmp_path: Path, kind: str) -> None:
    db, result = trained_result
    info, model = saved(result, kind, tmp_path)
    ids, X_ref = reference(db, info.features)
    with DuckDBEngine(db, SandboxLimits(max_rows=HARD_ROW_CAP)) as engine, limit_threads(1):
        scored = score_batch(engine, QueryLog(), TABLE, info, model, every_offer=True)  # type: ignore[arg-type]
    assert list(scored.frame.row_id) == list(ids)  # the same rows, in the same time order
    np.testing.assert_array_equal(scored.frame.X, X_ref)  # NaN where the reference has NaN, else equal
    np.testing.assert_array_equal(scored.scores, model.predict(X_ref))  # type: ignore[attr-defined]
    j = [f.name for f in info.features].index("channel")
    assert np.isnan(scored.frame.X[:, j]).any()  # the unseen channel is unknown, as before
    k = [f.name for f in info.features].index("customer_segment")
    assert not np.isnan(scored.frame.X[:, k]).all()


def test_one_customer_is_scored_like_the_batch(trained_result, tmp_path: Path) -> None:
    db, result = trained_result
    info, model = saved(result, "gbm", tmp_path)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(f"SELECT customer_id FROM {TABLE} WHERE product_recommendation_status IN ('Pending', "
                           "'In Progress') AND (channel = 'Carrier pigeon' OR product_id = 'NEW-PRODUCT') "
                           "GROUP BY ALL ORDER BY 1 LIMIT 5").fetchall()
    customers = [r[0] for r in rows]
    assert customers
    expected = {cid: reference(db, info.features, customer=cid) for cid in customers}
    with DuckDBEngine(db, SandboxLimits(max_rows=HARD_ROW_CAP)) as engine, limit_threads(1):
        for cid in customers:
            frame, p = score_customer(engine, QueryLog(), TABLE, info, model, cid)  # type: ignore[arg-type]
            ids, X_ref = expected[cid]
            assert list(frame.row_id) == list(ids) and len(ids)
            np.testing.assert_array_equal(frame.X, X_ref)
            np.testing.assert_array_equal(p, model.predict(X_ref))  # type: ignore[attr-defined]


@pytest.mark.parametrize("kinds", [("numeric",), ("categorical",)])
def test_a_model_with_inputs_of_one_kind_only(trained_result, tmp_path: Path, kinds: tuple[str, ...]) -> None:
    """The query keeps each column list non-empty with a NULL stand-in; it never reaches the matrix."""
    db, result = trained_result
    info, _ = saved(result, "gbm", tmp_path)
    features = [f for f in info.features if f.kind in kinds]
    assert features
    only = ModelInfo({**info.meta, "features": [f.to_dict() for f in features]}, info.path)
    ids, X_ref = reference(db, features)
    with DuckDBEngine(db, SandboxLimits(max_rows=HARD_ROW_CAP)) as engine:
        frame = scoring_frame(engine, QueryLog(), TABLE, only, every_offer=True)
    assert frame.X.shape == (len(ids), len(features))
    np.testing.assert_array_equal(frame.X, X_ref)


def test_vocabulary_positions_decode_to_the_category_index() -> None:
    a = Feature("a", "categorical", categories=("High", "Low"))
    b = Feature("b", "categorical", categories=("Email", "Low", "Web"))
    vocab = vocabulary([a, b, Feature("n", "numeric")])
    assert vocab == ["Email", "High", "Low", "Web"]
    values = np.array(["Low", "Web", None, "Email", "High", "Low"], dtype=object)
    for f in (a, b):
        positions = np.array([vocab.index(v) + 1 if v in vocab else 0 for v in values])
        np.testing.assert_array_equal(decode_positions(positions, vocab, f.categories),
                                      encode_category(values, f.categories))
    with pytest.raises(Exception, match="outside the model's vocabulary"):
        decode_positions(np.array([5]), vocab, a.categories)
