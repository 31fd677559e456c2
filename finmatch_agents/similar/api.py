"""The similarity search for callers: the CLI, the chat tool, the Strategy agent and the HTTP server.

Each function takes the settings, an open sandbox engine and a query log, and returns plain JSON-ready dicts:

* :func:`search` — ``search(settings, engine, log, question, top)``: ``interpretation`` (echoed first),
  ``constraints``, ``intent``, ``ranker`` (``embedding`` or ``lexical``, and why), ``matched`` (customers
  meeting the constraints), ``results`` (rank, customer, score, reasons) and ``query_ids``;
* :func:`like` — ``like(settings, engine, log, customer_ids, top)``: the nearest customers to one customer (or
  to the centre of a few), never the seeds themselves;
* :func:`like_segment` — an audience like a seed group ("accepted Mortgage in 2025"), with its size;
* :func:`build_index` — builds (or confirms) the cached index.

The index is built on first use (a few seconds for 250,000 customers) and cached on disk by data
fingerprint, and in the process by database file, so a server or a chat session pays for it once. Refusals
are :class:`~finmatch_agents.errors.UsageError` (exit 2): an unreadable question, contradictory constraints, an
unknown customer id (with the closest ids), ``ranker="embedding"`` without the extra.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import threading
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finmatch_agents.data import queries
from finmatch_agents.errors import MissingExtra, UsageError
from finmatch_agents.files import atomic_write_text
from finmatch_agents.semantic.layer import SemanticLayer
from finmatch_agents.semantic.model import load_model
from finmatch_agents.semantic.vocabulary import Vocabulary, learn
from finmatch_agents.similar import embed
from finmatch_agents.similar import index as ix
from finmatch_agents.similar.rank import EMBEDDING, LEXICAL, Lexical
from finmatch_agents.similar.search import Ranker, like_group, parse, select
from finmatch_agents.similar.search import like as like_one
from finmatch_agents.similar.search import search as run_search
from finmatch_agents.warehouse import named

if TYPE_CHECKING:
    from finmatch_agents.config import Settings
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.similar.index import Index, Progress
    from finmatch_agents.warehouse.engine import Engine

RANKERS = ("auto", EMBEDDING, LEXICAL)
DEFAULT_TOP = 10
MAX_TOP = 1000
PRODUCTS = "products"
_lock = threading.Lock()


@dataclasses.dataclass
class _Loaded:
    stamp: tuple[Any, ...]
    index: Index
    layer: SemanticLayer
    lexical: Lexical | None = None


_memory: dict[tuple[str, str, str], _Loaded] = {}  # (database file, table, state folder) -> index


def _stamp(engine: Engine) -> tuple[Any, ...] | None:
    """The database file's identity (inode, size, modification time): it changes whenever data is written."""
    path = getattr(engine, "path", None)
    if path is None:
        return None
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)


def _check_top(top: int) -> int:
    if not isinstance(top, int) or top < 1 or top > MAX_TOP:
        raise UsageError(f"top must be between 1 and {MAX_TOP} (got {top!r})")
    return top


def choose_ranker(name: str = "auto", *, threads: int = 1) -> Ranker:
    """``auto``: embeddings when the extra is installed, else BM25 with a note saying so; ``embedding`` without
    the extra is an error (exit 2) naming the install command."""
    if name not in RANKERS:
        raise UsageError(f"unknown ranker {name!r}; choose one of {', '.join(RANKERS)}")
    missing = embed.available()
    if name == EMBEDDING and missing:
        raise MissingExtra(f"the embedding ranker needs {missing}", hint=embed.INSTALL_HINT)
    if name == LEXICAL:
        return Ranker(LEXICAL)
    if missing:
        return Ranker(LEXICAL, note=f"ranked by BM25: {missing}; {embed.INSTALL_HINT}")
    return Ranker(EMBEDDING, threads=threads)


def _key(settings: Settings, engine: Engine, log: QueryLog, table: str) -> str:
    """The data key, remembered beside the database file's identity so an unchanged file is not hashed again."""
    stamp = _stamp(engine)
    keys = ix.folder(settings.state_dir) / "keys.json"
    known: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        known = json.loads(keys.read_text(encoding="utf-8"))
    slot = f"{stamp[0]}::{table}" if stamp else None
    entry = known.get(slot) if slot else None
    if stamp and entry and entry.get("stamp") == list(stamp[1:]):
        return str(entry["key"])
    key = ix.data_key(engine, log, table, PRODUCTS)
    if slot and stamp:
        known[slot] = {"stamp": list(stamp[1:]), "key": key}
        with contextlib.suppress(OSError):
            atomic_write_text(keys, json.dumps(known, indent=1, sort_keys=True))
    return key


def _layer(settings: Settings, engine: Engine, log: QueryLog, table: str, cache: Path | None = None
           ) -> SemanticLayer:
    """The semantic layer over the data. What it learns from the data (distinct values, first and last day)
    is kept beside the index (``cache``), keyed by the model, so a new process runs no SQL for it."""
    present = {c.name for c in engine.columns(table)}
    if PRODUCTS in engine.tables():
        present |= {f"products.{c.name}" for c in engine.columns(PRODUCTS)}
    model = load_model(settings)
    digest = hashlib.sha256(_canonical(model).encode("utf-8")).hexdigest()[:16]
    if cache is not None:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            data = json.loads(cache.read_text(encoding="utf-8"))
            if data["model"] == digest and data["present"] == sorted(present):
                vocab = Vocabulary(frozenset(data["present"]), {k: tuple(v) for k, v in data["values"].items()},
                                   _day(data["first_day"]), _day(data["last_day"]))
                return SemanticLayer(model, vocab, table)
    vocab = learn(model, lambda sql, title: engine.query(sql, log=log, title=title), table, present)
    if cache is not None:
        with contextlib.suppress(OSError):
            atomic_write_text(cache, json.dumps({
                "model": digest, "present": sorted(vocab.present), "values": vocab.values,
                "first_day": vocab.first_day and vocab.first_day.isoformat(),
                "last_day": vocab.last_day and vocab.last_day.isoformat()}, sort_keys=True))
    return SemanticLayer(model, vocab, table)


def _canonical(value: Any) -> str:
    """A text for ``value`` that is the same in every process (sets sorted; repr() of a set is not)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return f"{type(value).__name__}({_canonical(dataclasses.asdict(value))})"
    if isinstance(value, dict):
        return "{" + ",".join(sorted(f"{_canonical(k)}:{_canonical(v)}" for k, v in value.items())) + "}"
    if isinstance(value, set | frozenset):
        return "{" + ",".join(sorted(_canonical(v) for v in value)) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    return repr(value)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _open(settings: Settings, engine: Engine, log: QueryLog, ranker: Ranker, *, force: bool = False,
          progress: Progress | None = None) -> _Loaded:
    """The index for the engine's data (memory, then disk, then built), with the ranker's vectors attached."""
    table = settings.table
    if not engine.has_table(table):
        known = ", ".join(engine.tables()) or "none"
        raise UsageError(f"table '{table}' is not in {engine.location} (tables: {known})",
                         hint="load data with `finmatch data load FILE` or pick another --table")
    stamp = _stamp(engine)
    slot = (str(stamp[0]) if stamp else engine.location, table, str(settings.state_dir))
    with _lock:
        loaded = _memory.get(slot)
        if loaded is not None and stamp is not None and loaded.stamp == stamp and not force:
            _vectors(settings, loaded, ranker, progress)
            return loaded
        key = _key(settings, engine, log, table)
        path = ix.index_path(settings.state_dir, table, key)
        with ix.locked(settings.state_dir):
            index = None if force else ix.load(path)
            if index is None or index.key != key:
                index = ix.build(engine, log, table, products=PRODUCTS, progress=progress, key=key)
                ix.save(index, path)
        loaded = _Loaded(stamp or (slot,), index, _layer(settings, engine, log, table, path.with_suffix(".vocab.json")))
        _vectors(settings, loaded, ranker, progress, path)
        if stamp is not None:
            _memory[slot] = loaded
        return loaded


def _vectors(settings: Settings, loaded: _Loaded, ranker: Ranker, progress: Progress | None,
             path: Path | None = None) -> None:
    index = loaded.index
    if ranker.name == EMBEDDING and index.model_id != embed.MODEL_ID:
        embedder = ranker.embedder
        assert embedder is not None
        with ix.locked(settings.state_dir):
            ix.attach_vectors(index, embedder, ix.vectors_path(settings.state_dir, embedder.model_id), progress)
            ix.save(index, path or ix.index_path(settings.state_dir, index.table, index.key))
    if ranker.name == LEXICAL:
        if loaded.lexical is None:
            loaded.lexical = Lexical(index)
        ranker.lexical = loaded.lexical


def _meta(loaded: _Loaded, ranker: Ranker, started: float) -> dict[str, Any]:
    return {"table": loaded.index.table, "index_key": loaded.index.key, "ranker": ranker.name,
            "ranker_label": ranker.label, "ms": round((time.perf_counter() - started) * 1000, 1),
            "index_notes": loaded.index.notes}


def search(settings: Settings, engine: Engine, log: QueryLog, question: str, top: int = DEFAULT_TOP, *,
           ranker: str = "auto", reveal: bool = False) -> dict[str, Any]:
    """Customers for a plain-language question: exact constraints, then ranked by the semantic part.

    ``reveal`` quotes free-text PII (the stated goal) in the reasons; by default a reason names the field only."""
    started = time.perf_counter()
    _check_top(top)
    chosen = choose_ranker(ranker, threads=getattr(settings, "effective_threads", 1))
    if chosen.name == EMBEDDING:
        embed.preload(chosen.threads)  # the model loads while the index is read and the filter runs
    loaded = _open(settings, engine, log, chosen)
    parse(loaded.layer, question)  # refuse before any work
    result = run_search(loaded.layer, engine, log, loaded.index, chosen, question, top, reveal)
    return {**result.to_dict(), **_meta(loaded, chosen, started), "query_ids": [r.id for r in log.records]}


def evaluate_questions(settings: Settings, engine: Engine, log: QueryLog, questions: list[str], top: int,
                       rankers: tuple[str, ...] = (EMBEDDING, LEXICAL)) -> list[dict[str, Any]]:
    """Each question read once and filtered once, then ranked by every ranker named (the evaluation set, and
    bench/bench_similar.py). Per question: ``matched_ids`` (every customer meeting the constraints) and, per
    ranker, the :func:`search` result; a question that cannot be read gets ``error`` instead."""
    chosen = {name: choose_ranker(name, threads=getattr(settings, "effective_threads", 1)) for name in rankers}
    loaded = {name: _open(settings, engine, log, r) for name, r in chosen.items()}
    first = next(iter(loaded.values()))
    parsed: list[Any] = []
    for question in questions:
        try:
            parsed.append(parse(first.layer, question))
        except UsageError as exc:
            parsed.append(exc)
    for r in chosen.values():
        if r.embedder is not None:  # every intent in one batch
            intents = sorted({p.intent for p in parsed if not isinstance(p, UsageError) and p.intent})
            r.embedder.remember(intents, r.embedder.embed(intents))
    out: list[dict[str, Any]] = []
    for question, q in zip(questions, parsed, strict=True):
        if isinstance(q, UsageError):
            out.append({"question": question, "error": q.message})
            continue
        group = select(first.layer, engine, log, first.index, q)
        entry: dict[str, Any] = {"question": question,
                                 "matched_ids": [str(c) for c in first.index.customer_ids[group.rows]]}
        for name, r in chosen.items():
            started = time.perf_counter()
            res = run_search(loaded[name].layer, engine, log, loaded[name].index, r, question, top,
                             audience=(q, group))
            entry[name] = {**res.to_dict(), "ms": round((time.perf_counter() - started) * 1000, 1)}
        out.append(entry)
    return out


def matching_ids(settings: Settings, engine: Engine, log: QueryLog, question: str) -> list[str]:
    """Every customer meeting the question's constraints (its semantic part ignored), in customer order: the
    whole audience a campaign would export, and what the evaluation checks against independent SQL."""
    chosen = choose_ranker(LEXICAL)
    loaded = _open(settings, engine, log, chosen)
    q = parse(loaded.layer, question)
    rows = select(loaded.layer, engine, log, loaded.index, q).rows
    return [str(c) for c in loaded.index.customer_ids[rows]]


def close_ids(settings: Settings, engine: Engine, log: QueryLog, customer_id: str) -> list[str]:
    present = {c.name for c in engine.columns(settings.table)}
    res = queries.run(engine, log, "features/close_ids", present=present, table=settings.table,
                      customer=customer_id)
    return [] if isinstance(res, named.Skipped) else [str(r["customer_id"]) for r in res.dicts()]


def like(settings: Settings, engine: Engine, log: QueryLog, customer_ids: list[str], top: int = DEFAULT_TOP, *,
         ranker: str = "auto", reveal: bool = False) -> dict[str, Any]:
    """The customers most like one customer, or like the centre of a few (standardised features and text
    vectors, an exact scan of every other customer). An unknown id is a UsageError naming it and the closest
    ids; the seed customers themselves are never listed."""
    started = time.perf_counter()
    _check_top(top)
    ids = [customer_ids] if isinstance(customer_ids, str) else list(customer_ids)
    ids = list(dict.fromkeys(str(c).strip() for c in ids if str(c).strip()))
    if not ids:
        raise UsageError("say which customer(s) to find look-alikes of", hint="e.g. --like C0000123")
    if len(ids) > MAX_TOP:
        raise UsageError(f"at most {MAX_TOP} seed customers (got {len(ids)}); describe a larger group with "
                         "--like-segment")
    chosen = choose_ranker(ranker, threads=getattr(settings, "effective_threads", 1))
    loaded = _open(settings, engine, log, chosen)
    unknown = [c for c in ids if loaded.index.row_of(c) is None]
    if unknown:
        names = ", ".join(f"'{c}'" for c in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5
                                                             else "")
        raise UsageError(f"customer {names} {'is' if len(unknown) == 1 else 'are'} not in {settings.table}",
                         hint=_did_you_mean(close_ids(settings, engine, log, unknown[0])))
    if len(ids) == 1:
        result = like_one(loaded.index, chosen, ids[0], top, reveal=reveal)
    else:
        import numpy as np

        rows = np.array(sorted(int(loaded.index.row_of(c)) for c in ids), dtype=np.int64)  # type: ignore[arg-type]
        result = like_group(loaded.index, chosen, rows, top, ", ".join(ids), reveal=reveal)
    return {**result.to_dict(), **_meta(loaded, chosen, started), "query_ids": [r.id for r in log.records]}


def _did_you_mean(ids: list[str]) -> str | None:
    return f"did you mean {', '.join(ids)}?" if ids else None


def like_segment(settings: Settings, engine: Engine, log: QueryLog, seed: str, top: int = DEFAULT_TOP, *,
                 ranker: str = "auto", question: str | None = None, reveal: bool = False) -> dict[str, Any]:
    """An audience like a seed group described in words ("accepted Mortgage in 2025"): the customers outside
    the group most like its centre, and how many resemble it. ``question`` narrows the candidates."""
    started = time.perf_counter()
    _check_top(top)
    chosen = choose_ranker(ranker, threads=getattr(settings, "effective_threads", 1))
    loaded = _open(settings, engine, log, chosen)
    seed_q = parse(loaded.layer, seed)
    if seed_q.intent:
        raise UsageError(f"the seed group “{seed}” must be constraints only (“{seed_q.intent}” is a semantic part)",
                         hint='e.g. --like-segment "accepted Mortgage in 2025"')
    if not seed_q.constrained:
        raise UsageError(f"the seed group “{seed}” has no constraint")
    seeds = select(loaded.layer, engine, log, loaded.index, seed_q)
    candidates = None
    interpretation = seed_q.echo(loaded.layer.model)
    if question:
        narrow = parse(loaded.layer, question)
        if narrow.intent:
            raise UsageError("with --like-segment the question may only add constraints (no “interested in”)")
        candidates = select(loaded.layer, engine, log, loaded.index, narrow).rows
        interpretation += f" → among: {narrow.echo(loaded.layer.model)}"
    result = like_group(loaded.index, chosen, seeds.rows, top, seed, candidates, reveal=reveal)
    result.interpretation = interpretation
    return {**result.to_dict(), **_meta(loaded, chosen, started), "query_ids": [r.id for r in log.records]}


def build_index(settings: Settings, engine: Engine, log: QueryLog, *, ranker: str = "auto", force: bool = False,
                progress: Progress | None = None) -> dict[str, Any]:
    """Build (or find) the index for the current data; what it holds and where."""
    started = time.perf_counter()
    chosen = choose_ranker(ranker, threads=getattr(settings, "effective_threads", 1))
    loaded = _open(settings, engine, log, chosen, force=force, progress=progress)
    index = loaded.index
    path = ix.index_path(settings.state_dir, index.table, index.key)
    return {"path": str(path), "bytes": path.stat().st_size if path.exists() else None, "customers": index.n,
            "fields": {name: len(f.values) for name, f in index.fields.items()}, "numeric": index.numeric,
            "model": index.model_id, "build_seconds": index.seconds, **_meta(loaded, chosen, started),
            "query_ids": [r.id for r in log.records]}


def forget() -> None:
    """Drop the in-process cache (tests; a long-running server never needs it: a new data file is noticed)."""
    with _lock:
        _memory.clear()
