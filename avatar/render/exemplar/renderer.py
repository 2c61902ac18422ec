"""One driver clip rendered as the presenter drawn from his library (see the package docstring)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from avatar.config import ExemplarConfig, TrackConfig
from avatar.inference.refiner import RefinerModel
from avatar.media import Frame
from avatar.media.clip import DriverClip
from avatar.render.colour import ColourMatcher
from avatar.render.exemplar.library import PresenterLibrary
from avatar.render.exemplar.retrieval import Plan, fill_gaps, plan, plan_from_cut
from avatar.render.exemplar.warp import compose, morph
from avatar.render.report import FACE_TOO_SMALL, RenderReport
from avatar.vision import FaceTracker, align_face, paste_back

DECODE_WINDOW = 25  # output frames whose library frames are decoded together, just before they are drawn


class ExemplarRenderer:
    """Renders one driver clip as the presenter drawn from his library (see the package
    docstring); `render` yields (driver frame or None, output frame) pairs in order, and
    `report` counts frames and seconds by stage (track, retrieve, warp, refine)."""

    def __init__(self, library: PresenterLibrary, config: ExemplarConfig = ExemplarConfig(),
                 track: TrackConfig = TrackConfig(), min_face: int = 40, refiner: RefinerModel | None = None):
        self.library, self.config, self.track, self.min_face = library, config, track, min_face
        self.refiner = refiner
        self.report = RenderReport()

    def frame_size(self, clip: DriverClip) -> tuple[int, int]:
        return self.library.size if self.config.framing(clip.kind) == "own" else (clip.width, clip.height)

    def describe(self, clip: DriverClip) -> str:
        own = self.config.framing(clip.kind) == "own"
        return "exemplar renderer, " + ("the presenter's own scene" if own else "in the driver's frame")

    def driver_landmarks(self, clip: DriverClip) -> list[np.ndarray | None]:
        """Per frame (68, 2) landmarks of the driver's face, None where no usable face."""
        started = time.perf_counter()
        if clip.landmarks is not None:
            found = [np.asarray(p, np.float64) for p in clip.landmarks]
        else:
            tracker, found = FaceTracker(self.track), []
            for frame in clip.frames():
                face, reason = tracker.update(frame.rgb, frame.time)
                if face is None:
                    self.report.skipped[reason] += 1
                found.append(None if face is None else face.landmarks.astype(np.float64))
        for i, p in enumerate(found):
            if p is not None and np.ptp(p[:, 0]) < self.min_face:
                found[i] = None
                self.report.skipped[FACE_TOO_SMALL] += 1
        self.report.seconds["track"] += time.perf_counter() - started
        return found

    def render(self, clip: DriverClip, with_driver: bool = False
               ) -> Iterator[tuple[Frame | None, np.ndarray | None]]:
        """(driver frame, rendered (H, W, 3) uint8 RGB or None) per clip frame. With framing
        "driver", a frame whose face was not found yields None (it is never shown as it is);
        with "own" it is drawn from the nearest frame's expression (no driver pixel is shown),
        and the driver frame is None unless `with_driver` (decoding it costs time)."""
        found = self.driver_landmarks(clip)
        self.report.frames = len(found)
        try:
            driver, have = fill_gaps(found)
        except ValueError:
            return
        started = time.perf_counter()
        framing = self.config.framing(clip.kind)
        cut = clip.cut_from
        if framing == "own" and cut is not None and Path(cut[0]).resolve() == self.library.frames.folder.resolve():
            steps = plan_from_cut(self.library, cut, driver, self.config)
        else:
            # Which calm stretch of his video is the scene: fixed by the driver itself, so the same
            # recording always renders the same, and different ones do not all share one stretch.
            seed = int.from_bytes(hashlib.sha256(np.round(driver).astype(np.int32).tobytes()).digest()[:4], "big")
            steps = plan(self.library, driver, framing, self.config, seed)
        lib = self.library.frames
        # His frames are decoded a second of output at a time, just before they are drawn: an
        # answer that plays while it renders starts sooner and never waits for one long decode.
        pixels: dict[int, np.ndarray] = {}
        self.report.seconds["retrieve"] += time.perf_counter() - started
        colour = ColourMatcher("rct", 0.8)
        own = framing == "own"
        frames = clip.frames() if with_driver or not own else iter([None] * len(found))
        for t, frame in enumerate(frames):
            if t >= len(found):
                break
            if t % DECODE_WINDOW == 0:
                started = time.perf_counter()
                pixels.update(lib.frames([i for i in _frames_used(steps, slice(t, t + DECODE_WINDOW))
                                          if i not in pixels]))
                self.report.seconds["retrieve"] += time.perf_counter() - started
            if not own and not have[t]:
                colour.reset()
                yield frame, None
                continue
            if own:
                background, base_points = self.scene(steps, t, pixels)
            else:
                background, base_points = frame.rgb, driver[t]
            out = self.draw(background, base_points, steps, t, pixels, colour, own)
            self.report.swapped += 1
            yield frame, out

    def scene(self, steps: Plan, t: int, pixels: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Frame t's scene in his own framing and its face's (68, 2) landmarks: the base frame,
        morphed from his listening loop's frame while an answer eases in or out."""
        lib = self.library.frames
        base = int(steps.base[t])
        if steps.shown is None or steps.shown[t] >= 1:
            return pixels[base], lib.landmarks[base].astype(np.float64)
        return morph(pixels[steps.home], pixels[base], float(steps.shown[t])), steps.base_points[t]

    def draw(self, background: np.ndarray, base_points: np.ndarray, steps: Plan, t: int,
             pixels: dict[int, np.ndarray], colour: ColourMatcher, own: bool) -> np.ndarray:
        """Frame t: the source face warped onto `background` (his own base frame when `own`, else
        the driver's, with whose skin the face is then colour-matched) at the target landmarks,
        then repaired by the refiner when there is one."""
        started = time.perf_counter()
        lib = self.library.frames
        source, old = int(steps.source[t]), int(steps.blend[t])
        fading = (pixels[old], lib.landmarks[old].astype(np.float64), steps.alpha[t]) if old >= 0 else None
        shown = 1.0 if steps.shown is None else float(steps.shown[t])
        out, mask = compose(background, base_points, pixels[source], lib.landmarks[source].astype(np.float64),
                            steps.target[t], self.config, None if own else colour, fading, steps.lower_face, shown)
        self.report.seconds["warp"] += time.perf_counter() - started
        if self.refiner is None:
            return out
        started = time.perf_counter()
        crop, matrix = align_face(out, steps.target[t], self.refiner.size)
        crop_mask = cv2.warpAffine(mask, matrix, (self.refiner.size,) * 2)
        refined = self.refiner.run(crop[None], crop_mask[None])[0]
        self.report.seconds["refine"] += time.perf_counter() - started
        return paste_back(out, refined, matrix, crop_mask)


def _frames_used(steps: Plan, times: slice) -> list[int]:
    """The library frames (sources, blends and bases) drawn at `times` of a plan, sorted."""
    used = set(steps.source[times].tolist()) | set(steps.base[times][steps.base[times] >= 0].tolist())
    blend = steps.blend[times]
    home = {steps.home} if steps.home >= 0 else set()
    return sorted(used | set(blend[blend >= 0].tolist()) | home)
