"""A presenter's library ready for the exemplar renderer: building it into his model folder under
consent (sealed), loading it with its canonical features, and self-reenactment examples for his
refiner. The frames themselves are a `DriverLibrary` (one format for every talking-face library)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from avatar.config import ExemplarConfig
from avatar.driver.library import DriverLibrary, build_library
from avatar.driver.synthesize import listening_stretch
from avatar.inference.refiner import RefinerModel
from avatar.paths import atomic_write, cache_dir
from avatar.presenter import CONSENT_FILE, LIBRARY, open_presenter, write_record
from avatar.provenance.consent import load_consent
from avatar.render.exemplar.features import POSE, canonical, descriptors, neutral_face
from avatar.render.exemplar.warp import compose
from avatar.vision import align_face


LISTENING_SECONDS = 3.0  # his listening stretch; the loop plays it forwards, then backwards


@dataclass
class PresenterLibrary:
    """A presenter's library ready for retrieval: the frames' canonical landmarks, descriptors
    and spreads, his neutral face, and the refiner that repairs what is drawn from it."""

    frames: DriverLibrary
    canon: np.ndarray  # (N, 68, 2) float64
    features: dict[str, np.ndarray]
    spread: dict[str, float]
    neutral: np.ndarray  # (68, 2)
    # (F,) library frames of his listening loop (LISTENING_SECONDS, `listening_stretch`): every
    # answer in his own scene starts and ends on its first frame.
    listening: np.ndarray
    refiner: RefinerModel | None = None  # set by `render.load_drawing` when the presenter has one

    @classmethod
    def load(cls, folder: Path) -> PresenterLibrary:
        return _load(str(Path(folder).resolve()), Path(folder, "index.npz").stat().st_mtime_ns)

    @property
    def size(self) -> tuple[int, int]:
        meta = self.frames.meta
        return int(meta["width"]), int(meta["height"])


@lru_cache(maxsize=4)
def _load(folder: str, _version: int) -> PresenterLibrary:
    frames = DriverLibrary.load(Path(folder))
    canon = np.zeros(frames.landmarks.shape, np.float64)
    canon[frames.valid] = canonical(frames.landmarks[frames.valid])
    features = descriptors(canon, frames.features[:, POSE])
    spread = {name: float(value[frames.valid].std(0).mean()) + 1e-6 for name, value in features.items()}
    listening = listening_stretch(frames, max(2, round(LISTENING_SECONDS * frames.fps)))
    return PresenterLibrary(frames, canon, features, spread, neutral_face(canon[frames.valid]), listening)


def build_presenter_library(folder: Path, videos: list[Path], consent: Path, heldout: float = 0.2, crf: int = 16,
                            on_progress: Callable[[int, int], None] | None = None,
                            new: bool = False, short_side: int | None = None) -> PresenterLibrary:
    """Build the presenter model `folder`'s library from his own `videos` (each video's last
    `heldout` share stays out, for evaluation), keep the `consent` record in it, and seal it
    into the presenter's integrity record. The consent record and the presenter (unless `new`:
    a folder being made, with nothing sealed yet to protect) are checked before any work; an
    interrupted build resumes from its last finished video. short_side: the library's working
    resolution (see `avatar.driver.library.build_library`)."""
    folder = Path(folder)
    record = load_consent(consent)
    if not new:
        open_presenter(folder)  # intact now: resealing must never bless a changed file
    library = folder / LIBRARY
    build_library(videos, library, heldout=heldout, crf=crf, work=cache_dir("library-work") / folder.name,
                  on_progress=on_progress, short_side=short_side)
    atomic_write(library / CONSENT_FILE, json.dumps(record.to_dict(), indent=1) + "\n")
    write_record(folder)
    return PresenterLibrary.load(library)


def reenactment_pairs(library: PresenterLibrary, count: int, size: int, seed: int = 0,
                      config: ExemplarConfig = ExemplarConfig(), neighbours: int = 20,
                      on_progress: Callable[[int, int], None] | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Self-reenactment examples for the refiner, from his library alone: frame j re-drawn as
    the renderer would draw it in his own scene, from frame i (one of j's `neighbours` nearest
    in expression and pose, at least a second away or in another video), beside the real frame
    j. Returns inputs (count, S, S, 3) uint8 RGB (aligned at j's landmarks), masks (count, S, S)
    float32 (where the face was drawn) and targets (count, S, S, 3) uint8 RGB."""
    lib = library.frames
    rng = np.random.default_rng(seed)
    valid = np.flatnonzero(lib.valid)
    segment = np.cumsum(~lib.continues)
    jobs = []
    for j in rng.choice(valid, size=count, replace=count > len(valid)):
        cost = sum(w * ((library.features[name] - library.features[name][j]) ** 2).mean(1) / library.spread[name] ** 2
                   for name, w in config.weights.items())
        near = (np.abs(np.arange(len(lib)) - j) < lib.fps) & (segment == segment[j])
        cost[near | ~lib.valid] = np.inf
        jobs.append((int(j), int(rng.choice(np.argsort(cost)[:neighbours]))))
    inputs = np.zeros((count, size, size, 3), np.uint8)
    masks = np.zeros((count, size, size), np.float32)
    targets = np.zeros((count, size, size, 3), np.uint8)
    order = np.argsort([j for j, _ in jobs])
    for start in range(0, count, 256):  # a few hundred frames in memory at a time
        chunk = order[start:start + 256]
        pixels = lib.frames(sorted({i for k in chunk for i in jobs[k]}))
        for k in chunk:
            j, i = jobs[k]
            points_j, points_i = lib.landmarks[j].astype(np.float64), lib.landmarks[i].astype(np.float64)
            drawn, mask = compose(pixels[j], points_j, pixels[i], points_i, points_j, config)
            inputs[k], matrix = align_face(drawn, points_j, size)
            targets[k], _ = align_face(pixels[j], points_j, size)
            masks[k] = cv2.warpAffine(mask, matrix, (size, size))
            if on_progress:
                on_progress(int(start + np.searchsorted(chunk, k) + 1), count)
    return inputs, masks, targets
