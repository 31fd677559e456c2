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

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
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
def spark_parquet(spark_db: Path) -> Path:
    """:data:`spark_db`'s tables as ``<table>.parquet`` files in one folder (the SparkEngine's local layout)."""
    folder = spark_db.parent / "parquet"
    export_parquet(spark_db, folder)
    return folder


@pytest.fixture(scope="session")
def spark_data(spark: Any, spark_db: Path, spark_parquet: Path) -> SparkData:
    """:data:`spark_db` exported to Parquet and registered in the session as temporary views."""
    folder = spark_parquet
    tables = tuple(sorted(p.name[:-8] for p in folder.glob("*.parquet")))
    for table in tables:
        spark.read.parquet(str(folder / f"{table}.parquet")).createOrReplaceTempView(table)
    return SparkData(db=spark_db, parquet=folder, tables=tables, session=spark)


@dataclass(frozen=True)
class ConnectServer:
    """A Spark Connect server in its own process on 127.0.0.1: its ``url`` and the ``token`` it asks for."""

    url: str
    token: str
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A local Spark Connect server (tests/spark/connect_server.py: its own JVM, the Connect plugin of the pyspark
    wheel) for the test file that asks for it; the test process reaches it only through ``sc://localhost:PORT``
    with a token, as a client reaches a cluster. Stopped when the file is done."""
    _require_pyspark()
    pytest.importorskip("grpc", reason="Spark Connect needs pyspark[connect] (pip install -e '.[spark]')")
    token, port = secrets.token_hex(16), _free_port()
    log = tmp_path_factory.mktemp("connect") / "server.log"
    env = {**os.environ, "SPARK_CONNECT_AUTHENTICATE_TOKEN": token, "SPARK_LOCAL_IP": "127.0.0.1"}
    with log.open("w") as err:
        server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("connect_server.py")), str(port),
                                   json.dumps(SPARK_CONF)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=err, text=True, env=env)
    try:
        ready = server.stdout.readline() if server.stdout else ""
        if ready.strip() != "ready":
            raise RuntimeError(f"the Spark Connect server did not start (exit {server.poll()}): "
                               f"{log.read_text()[-3000:]}")
        _await_port(port, server, log)
        # bound to 127.0.0.1; reached as "localhost", the one host to which pyspark sends a token without TLS
        yield ConnectServer(url=f"sc://localhost:{port}", token=token, log=log)
    finally:
        if server.stdin:
            server.stdin.close()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _await_port(port: int, server: subprocess.Popen[str], log: Path, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if server.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"the Spark Connect server does not listen on 127.0.0.1:{port}: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def connect_env(connect_server: ConnectServer) -> Any:
    """The client side of :func:`connect_server`: its token in ``SPARK_CONNECT_AUTHENTICATE_TOKEN`` for this file.
    pyspark marks a process that opened a Connect session (``SPARK_CONNECT_MODE_ENABLED``), which would turn a
    later test file's local session in the same worker into a Connect one: that mark is undone too."""
    marked = os.environ.get("SPARK_CONNECT_MODE_ENABLED")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPARK_CONNECT_AUTHENTICATE_TOKEN", connect_server.token)
        try:
            yield connect_server
        finally:
            if marked is None:
                os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
