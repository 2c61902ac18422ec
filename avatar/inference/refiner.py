"""The exemplar renderer's refiner at run time: a small person-specific network that repairs a
warped face (seams, stretched lips, mouth interiors), one cached session per file.

Model contract (written by `avatar library refiner`): inputs `face` (N, 3, S, S) float32 RGB in
[0, 1] (an aligned crop of the composited frame) and `mask` (N, 1, S, S) float32 in [0, 1]
(where the face was drawn); output `refined` (N, 3, S, S) float32 RGB in [0, 1]. Metadata
`avatar.refiner_config` holds the architecture as JSON.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort

from avatar.errors import UserError
from avatar.inference.session import create_session, read_model_file

INPUTS = ("face", "mask")
OUTPUT = "refined"


@dataclass
class RefinerModel:
    """A loaded refiner; `run` is thread-safe (onnxruntime sessions are)."""

    path: Path
    session: ort.InferenceSession
    size: int
    providers: list[str]

    def run(self, faces: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 RGB crops and (N, S, S) float32 masks -> (N, S, S, 3) uint8 RGB."""
        if faces.ndim != 4 or faces.shape[1:] != (self.size, self.size, 3):
            raise ValueError(f"expected (N, {self.size}, {self.size}, 3) crops, got {faces.shape}")
        feeds = {"face": np.ascontiguousarray(faces.transpose(0, 3, 1, 2), np.float32) / 255,
                 "mask": np.ascontiguousarray(masks[:, None], np.float32)}
        out = self.session.run([OUTPUT], feeds)[0]
        return (out.transpose(0, 2, 3, 1) * 255 + 0.5).clip(0, 255).astype(np.uint8)


_lock = threading.Lock()


def load_refiner(path: Path, prefer: str = "auto", threads: int | None = None) -> RefinerModel:
    """Load (once per file version and provider choice) and return the refiner at `path`."""
    path = Path(path).resolve()
    stat = path.stat() if path.is_file() else None
    with _lock:
        return _load(str(path), stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0, prefer, threads)


@lru_cache(maxsize=4)
def _load(path: str, _mtime: int, _size: int, prefer: str, threads: int | None) -> RefinerModel:
    model = read_model_file(Path(path))
    names = [i.name for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    if tuple(names) != INPUTS or outputs != [OUTPUT]:
        raise UserError(f"{Path(path).name} is not a presenter refiner (inputs {names}, outputs {outputs}; expected "
                        f"{list(INPUTS)} -> [{OUTPUT!r}]).")
    session, used = create_session(model.SerializeToString(), Path(path).name, prefer, threads)
    config = json.loads(session.get_modelmeta().custom_metadata_map.get("avatar.refiner_config", "{}"))
    size = int(config.get("size") or session.get_inputs()[0].shape[-1])
    return RefinerModel(Path(path), session, size, used)
