"""The exported swap model at run time: safe loading, one cached session per file, batches.

Model contract (written by `avatar swap export`): input `face` (N, 3, S, S) float32 RGB in
[0, 1] (and, for landmark-conditioned models, `landmarks` (N, 68, 2) float32 crop pixels);
outputs `presenter` (N, 3, S, S) float32 RGB in [0, 1] and `mask` (N, 1, S, S) float32 in
[0, 1]. Metadata `avatar.swap_config` holds the architecture as JSON.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from avatar.errors import UserError
from avatar.inference.providers import CPU
from avatar.inference.session import create_session, read_model_file

INPUT = "face"
LANDMARKS = "landmarks"
OUTPUTS = ("presenter", "mask")


def check_model_file(path: Path) -> onnx.ModelProto:
    """Parse a swap model file without running it (see `read_model_file`) and check its interface."""
    model = read_model_file(path)
    names = [i.name for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    if names not in ([INPUT], [INPUT, LANDMARKS]) or tuple(outputs) != OUTPUTS:
        raise UserError(f"{Path(path).name} is not a presenter swap model (inputs {names}, outputs {outputs}; "
                        f"expected [{INPUT!r}] or [{INPUT!r}, {LANDMARKS!r}] -> {list(OUTPUTS)}).")
    return model


@dataclass
class SwapModel:
    """A loaded swap model. `run` is thread-safe (onnxruntime sessions are)."""

    path: Path
    session: ort.InferenceSession
    size: int
    config: dict
    providers: list[str]
    max_batch: int = 16

    @property
    def on_gpu(self) -> bool:
        return self.providers[0] != CPU

    @property
    def takes_landmarks(self) -> bool:
        return len(self.session.get_inputs()) == 2

    def run(self, faces: np.ndarray, landmarks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(N, S, S, 3) uint8 RGB aligned crops (and their (N, 68, 2) crop-pixel landmarks,
        which landmark models need and others ignore) -> presenter (N, S, S, 3) uint8 RGB and
        mask (N, S, S) float32 in [0, 1]."""
        if faces.ndim != 4 or faces.shape[1:] != (self.size, self.size, 3):
            raise ValueError(f"expected (N, {self.size}, {self.size}, 3) crops, got {faces.shape}")
        if self.takes_landmarks and (landmarks is None or landmarks.shape != (len(faces), 68, 2)):
            raise ValueError(f"{self.path.name} needs (N, 68, 2) landmarks with the faces")
        rgb, masks = [], []
        for start in range(0, len(faces), self.max_batch):
            batch = faces[start:start + self.max_batch].transpose(0, 3, 1, 2).astype(np.float32) / 255
            feeds = {INPUT: np.ascontiguousarray(batch)}
            if self.takes_landmarks:
                feeds[LANDMARKS] = np.ascontiguousarray(landmarks[start:start + self.max_batch], dtype=np.float32)
            out, mask = self.session.run(list(OUTPUTS), feeds)
            rgb.append((out.transpose(0, 2, 3, 1) * 255 + 0.5).clip(0, 255).astype(np.uint8))
            masks.append(mask[:, 0])
        return np.concatenate(rgb), np.concatenate(masks)


_lock = threading.Lock()


def load_swap_model(path: Path, prefer: str = "auto", threads: int | None = None) -> SwapModel:
    """Load (once per file version and provider choice) and return the swap model."""
    path = Path(path).resolve()
    stat = path.stat() if path.is_file() else None
    key = (str(path), stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0, prefer, threads)
    with _lock:
        return _load(*key)


@lru_cache(maxsize=4)
def _load(path: str, _mtime: int, _size: int, prefer: str, threads: int | None) -> SwapModel:
    model = check_model_file(Path(path))
    session, used = create_session(model.SerializeToString(), Path(path).name, prefer, threads)
    meta = session.get_modelmeta().custom_metadata_map
    config = json.loads(meta.get("avatar.swap_config", "{}"))
    size = int(session.get_inputs()[0].shape[-1])
    return SwapModel(Path(path), session, size, config, used)
