"""Shared fixtures of the Spark tests: one local SparkSession per test process and the same synthetic data in
DuckDB and in Spark.

Every test under tests/spark/ is marked ``spark``; a developer without Java can skip them with
``pytest -m "not spark"`` (docs/engines.md). CI never skips them: ``.ci/run`` sets FINMATCH_REQUIRE_SPARK=1, and
then a missing pyspark or Java fails the run instead of skipping it.

The data is ``finmatch data generate --customers 25000 --seed 42`` (about 100k records) in a DuckDB file; every
table is written to Parquet by DuckDB (``COPY … TO … (FORMAT parquet)``) into one folder, ``<table>.parquet``
each, which is the layout :class:`finmatch_agents.warehouse.spark.SparkEngine` reads for local development
(``[engine.spark] tables = "folder"``), and each is registered in the session as a temporary view of the same name.
The session is built once per test process (pytest-xdist runs one test file per worker, so one JVM per file).
"""

from __future__ import annotations

import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from finmatch_agents.data.generator import write_synthetic

SPARK_CUSTOMERS = 25_000  # about 100k records
SPARK_SEED = 42
#: the session's settings (the tests' and the engine's local default): small, quiet, UTC, no UI
SPARK_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "2g",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.spark)


def _require_pyspark() -> Any:
    if os.environ.get("FINMATCH_REQUIRE_SPARK") == "1":
        import pyspark  # CI: fail, never skip

        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            raise RuntimeError("FINMATCH_REQUIRE_SPARK=1 but no java on PATH (install openjdk-17-jre-headless)")
        return pyspark
    pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -e '.[spark]')")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no java on PATH: Spark needs Java 17 (apt-get install openjdk-17-jre-headless)")
    return pyspark


@pytest.fixture(scope="session")
def spark() -> Any:
    """The local SparkSession of this test process (``local[2]``, 2 shuffle partitions, UI off, 2 GB driver)."""
    _require_pyspark()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no "hostname resolves to a loopback address" warning
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName("finmatch-tests")
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@dataclass(frozen=True)
class SparkData:
    """The same data in both engines: ``db`` (DuckDB file, read-only), ``parquet`` (folder of ``<table>.parquet``,
    the SparkEngine's local layout) and the tables registered as temporary views in ``session``."""

    db: Path
    parquet: Path
    tables: tuple[str, ...]
    session: Any


def export_parquet(db: Path, folder: Path) -> tuple[str, ...]:
    """Every table of DuckDB file ``db`` as ``folder/<table>.parquet`` (DuckDB writes the files)."""
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = tuple(r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "ORDER BY table_name").fetchall())
        for table in tables:
            target = str(folder / f"{table}.parquet").replace("'", "''")
            con.execute(f'COPY (SELECT * FROM "{table}") TO \'{target}\' (FORMAT parquet)')
    finally:
        con.close()
    return tables


@pytest.fixture(scope="session")
def spark_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ~100k-record synthetic DuckDB file (25,000 customers, seed 42). Read-only: do not write to it."""
    path = tmp_path_factory.mktemp("spark-data") / "finmatch.duckdb"
    write_synthetic(path, SPARK_CUSTOMERS, SPARK_SEED, force=False)
    path.chmod(0o444)
    return path


@pytest.fixture(scope="session")
def spark_data(spark: Any, spark_db: Path) -> SparkData:
    """:data:`spark_db` exported to Parquet and registered in the session as temporary views."""
    folder = spark_db.parent / "parquet"
    tables = export_parquet(spark_db, folder)
    for table in tables:
        spark.read.parquet(str(folder / f"{table}.parquet")).createOrReplaceTempView(table)
    return SparkData(db=spark_db, parquet=folder, tables=tables, session=spark)
