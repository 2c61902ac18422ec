"""Driver video -> presenter video: track, align, swap (batched), colour-match, blend, encode.

Frames are (H, W, 3) uint8 RGB throughout.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np

from avatar.config import MediaLimits, RenderConfig
from avatar.inference import SwapModel, load_swap_model
from avatar.media import Frame, iter_frames, normalize
from avatar.media.encode import VideoWriter
from avatar.provenance.credentials import presenter_facts, sign_video
from avatar.render.colour import ColourMatcher
from avatar.render.label import add_label
from avatar.vision import FaceTracker, align_face, hull_mask, paste_back, transform_points


@dataclass
class RenderReport:
    frames: int = 0
    swapped: int = 0
    skipped: Counter = field(default_factory=Counter)  # frames left as they were, by reason
    seconds: dict = field(default_factory=lambda: Counter())  # time by stage

    def describe(self) -> str:
        text = f"{self.swapped} of {self.frames} frames swapped"
        if self.skipped:
            text += " (" + ", ".join(f"{n} with {reason}" for reason, n in self.skipped.items()) + " left as they were)"
        return text


class Renderer:
    """Swaps the presenter into a stream of frames. One instance per video (it keeps tracking
    and colour state); `process` yields output frames in order, batching model calls."""

    def __init__(self, model: SwapModel, config: RenderConfig = RenderConfig()):
        self.model, self.config = model, config
        self.tracker = FaceTracker(config.track)
        self.colour = ColourMatcher(config.colour, config.smoothing)
        size = model.size
        self._erode = max(0, round(config.erode * size))
        self._blur = max(0.0, config.blur * size)
        self.report = RenderReport()

    def process(self, frames: Iterable[Frame], landmarks: Iterable[np.ndarray] | None = None
                ) -> Iterator[tuple[Frame, np.ndarray]]:
        """Yield (driver frame, rendered RGB frame) pairs.

        landmarks: the frames' (68, 2) landmarks when they are already known (a synthesised
        driver carries them); otherwise faces are detected and tracked here.
        """
        pending = []
        known = iter(landmarks) if landmarks is not None else None
        for frame in frames:
            started = time.perf_counter()
            if known is not None:
                points, reason = next(known), None
            else:
                face, reason = self.tracker.update(frame.rgb, frame.time)
                points = None if face is None else face.landmarks
            self.report.seconds["track"] += time.perf_counter() - started
            self.report.frames += 1
            if points is None:
                self.report.skipped[reason] += 1
                pending.append((frame, None, None, None))
            else:
                started = time.perf_counter()
                crop, matrix = align_face(frame.rgb, points, self.model.size)
                self.report.seconds["align"] += time.perf_counter() - started
                pending.append((frame, crop, matrix, points))
            if len(pending) >= self.config.batch:
                yield from self._flush(pending)
                pending = []
        yield from self._flush(pending)

    def _flush(self, pending) -> Iterator[tuple[Frame, np.ndarray]]:
        faces = [p for p in pending if p[1] is not None]
        if faces:
            started = time.perf_counter()
            crop_landmarks = np.stack([transform_points(p[3], p[2]) for p in faces])
            swapped, masks = self.model.run(np.stack([p[1] for p in faces]), crop_landmarks)
            self.report.seconds["swap"] += time.perf_counter() - started
        k = 0
        for frame, crop, matrix, landmarks in pending:
            if crop is None:
                self.colour.reset()  # a new shot may follow: do not carry colour across it
                yield frame, frame.rgb
                continue
            started = time.perf_counter()
            out = self.composite(frame.rgb, crop, matrix, landmarks, swapped[k], masks[k])
            self.report.seconds["composite"] += time.perf_counter() - started
            self.report.swapped += 1
            k += 1
            yield frame, out

    def composite(self, rgb, crop, matrix, landmarks, swapped, model_mask) -> np.ndarray:
        """Blend one swapped crop into its frame: colour-match, mask, paste back."""
        size = self.model.size
        # Only where both the presenter (model mask) and the driver (landmark hull) have a face.
        driver_hull = hull_mask(transform_points(landmarks, matrix), size, size)
        mask = np.minimum(model_mask, driver_hull)
        swapped = self.colour(swapped, crop, mask)
        if self._erode:
            mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * self._erode + 1,) * 2))
        if self._blur:
            mask = cv2.GaussianBlur(mask, (0, 0), self._blur / 2)
        return paste_back(rgb, swapped, matrix, mask)


def render_video(driver: Path, model_path: Path, out: Path, config: RenderConfig = RenderConfig(),
                 audio: Path | None = None, side_by_side: bool = False, limits: MediaLimits = MediaLimits(),
                 work_dir: Path | None = None, on_progress: Callable[[int, int], None] | None = None) -> RenderReport:
    """Render `driver` as the presenter into `out` (H.264 MP4; AAC from `audio`, else from the
    driver's own sound if it has any), every frame labelled "AI-generated", the file signed with
    content credentials. side_by_side puts driver | presenter in one frame."""
    model = load_swap_model(resolve_model(model_path))
    work_dir = Path(work_dir) if work_dir else Path(out).parent / ".avatar-work"
    normal = normalize(driver, work_dir, limits)
    info = normal.info
    width = info.width * (2 if side_by_side else 1)
    renderer = Renderer(model, config)
    sound = audio if audio is not None else normal.audio
    with VideoWriter(out, width, info.height, info.fps, audio=sound) as writer:
        for frame, rendered in renderer.process(iter_frames(normal.video)):
            started = time.perf_counter()
            rendered = add_label(rendered)
            writer.write(np.hstack([frame.rgb, rendered]) if side_by_side else rendered)
            renderer.report.seconds["encode"] += time.perf_counter() - started
            if on_progress:
                on_progress(renderer.report.frames, info.frames)
    sign_video(out, "AI presenter video", presenter_facts(model_path))
    return renderer.report


def resolve_model(path: Path) -> Path:
    """A model folder (models/NAME) or an .onnx file -> the .onnx file."""
    path = Path(path)
    return path / "model.onnx" if path.is_dir() else path
