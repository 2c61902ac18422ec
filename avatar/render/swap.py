"""The study's autoencoder swap as a renderer: track the driver's face, align it, run the swap
network in batches, colour-match and blend the presenter's face back into the driver's frame.

Frames are (H, W, 3) uint8 RGB throughout.
"""

from __future__ import annotations

import time
from typing import Iterable, Iterator

import cv2
import numpy as np

from avatar.config import RenderConfig
from avatar.inference import SwapModel
from avatar.media import Frame
from avatar.media.clip import DriverClip
from avatar.render.colour import ColourMatcher
from avatar.render.report import FACE_TOO_SMALL, RenderReport
from avatar.vision import FaceTracker, align_face, hull_mask, paste_back, skin_mask, transform_points


class SwapRenderer:
    """The study's autoencoder swap as a renderer (see `avatar.render.renderers`): swaps the
    presenter into a stream of frames (track, align, swap in batches, colour-match, blend). One
    instance per video (it keeps tracking and colour state); `process` yields output frames in
    order, batching model calls."""

    def frame_size(self, clip: DriverClip) -> tuple[int, int]:
        return clip.width, clip.height

    def describe(self, clip: DriverClip) -> str:
        return "autoencoder swap, in the driver's frame"

    def render(self, clip: DriverClip, with_driver: bool = True) -> Iterator[tuple[Frame, np.ndarray | None]]:
        """(driver frame, swapped frame or None) for every frame of `clip` (see `process`)."""
        return self.process(clip.frames(), clip.landmarks)

    def render_spoken(self, clip) -> None:
        """None: the swap tracks and draws whole clips (see `PresenterRenderer`)."""
        return None

    def __init__(self, model: SwapModel, config: RenderConfig = RenderConfig()):
        self.model, self.config = model, config
        self.tracker = FaceTracker(config.track)
        self.colour = ColourMatcher(config.colour, config.smoothing)
        size = model.size
        self._erode = max(0, round(config.erode * size))
        self._blur = max(0.0, config.blur * size)
        self.report = RenderReport()

    def process(self, frames: Iterable[Frame], landmarks: Iterable[np.ndarray] | None = None
                ) -> Iterator[tuple[Frame, np.ndarray | None]]:
        """Yield (driver frame, rendered RGB frame or None when its face cannot be swapped).

        landmarks: the frames' (68, 2) landmarks when they are already known (a synthesised
        driver carries them); otherwise faces are detected and tracked here. Faces narrower
        than `config.min_face` pixels count as not swappable.
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
            if points is not None and np.ptp(points[:, 0]) < self.config.min_face:
                points, reason = None, FACE_TOO_SMALL
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

    def _flush(self, pending) -> Iterator[tuple[Frame, np.ndarray | None]]:
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
                yield frame, None
                continue
            started = time.perf_counter()
            out = self.composite(frame.rgb, crop, matrix, landmarks, swapped[k], masks[k])
            self.report.seconds["composite"] += time.perf_counter() - started
            self.report.swapped += 1
            k += 1
            yield frame, out

    def match_colour(self, swapped, crop, crop_landmarks, model_mask) -> np.ndarray:
        """The swapped crop recoloured towards the driver's crop (both (S, S, 3) uint8 RGB),
        statistics from the driver's skin only (crop_landmarks (68, 2) crop pixels) where the
        model also drew face: the hull's edge (background) and the eyes and brows made the
        statistics swing and painted the eye sockets purple."""
        return self.colour(swapped, crop, np.minimum(model_mask, skin_mask(crop_landmarks, self.model.size)))

    def composite(self, rgb, crop, matrix, landmarks, swapped, model_mask) -> np.ndarray:
        """Blend one swapped crop into its frame: colour-match, mask, paste back."""
        size = self.model.size
        # Only where both the presenter (model mask) and the driver (landmark hull) have a face.
        crop_landmarks = transform_points(landmarks, matrix)
        driver_hull = hull_mask(crop_landmarks, size, size)
        mask = np.minimum(model_mask, driver_hull)
        swapped = self.match_colour(swapped, crop, crop_landmarks, model_mask)
        if self._erode:
            mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * self._erode + 1,) * 2))
        if self._blur:
            mask = cv2.GaussianBlur(mask, (0, 0), self._blur / 2)
        return paste_back(rgb, swapped, matrix, mask)
