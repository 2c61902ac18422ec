"""One driver clip rendered as the presenter drawn from his library (see the package docstring)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import cv2
import numpy as np

from avatar.config import ExemplarConfig, TrackConfig
from avatar.driver.synthesize import DriverPart
from avatar.inference.refiner import RefinerModel
from avatar.media import Frame
from avatar.media.clip import DriverClip
from avatar.render.colour import ColourMatcher
from avatar.render.exemplar.library import PresenterLibrary
from avatar.render.exemplar.retrieval import Plan, fill_gaps, plan, plan_from_cut
from avatar.render.exemplar.warp import compose, morph
from avatar.render.report import FACE_TOO_SMALL, RenderReport
from avatar.vision import FaceTracker, align_face, paste_back

if TYPE_CHECKING:
    from avatar.driver.spoken import SpokenDriver

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
        if framing == "own" and cut is not None and self._own_library(cut[0]):
            steps = plan_from_cut(self.library, cut, driver, self.config)
        else:
            # Which calm stretch of his video is the scene: fixed by the driver itself, so the same
            # recording always renders the same, and different ones do not all share one stretch.
            seed = int.from_bytes(hashlib.sha256(np.round(driver).astype(np.int32).tobytes()).digest()[:4], "big")
            steps = plan(self.library, driver, framing, self.config, seed)
        self.report.seconds["retrieve"] += time.perf_counter() - started
        own = framing == "own"
        frames = clip.frames() if with_driver or not own else iter([None] * len(found))
        drawing = _Drawing(self, own)
        for t, frame in enumerate(frames):
            if t >= len(found):
                break
            if not own and not have[t]:
                drawing.colour.reset()
                yield frame, None
                continue
            out = drawing.frame(steps, t, len(found), None if own else frame.rgb, driver[t])
            self.report.swapped += 1
            yield frame, out

    def render_spoken(self, clip: SpokenDriver) -> Iterator[np.ndarray] | None:
        """The frames of a synthesised driver cut from his own library, drawn in his own scene as
        its parts come (each part's frames once planned, the last `ease_seconds` held back until
        the clip is known to end there or to go on); None when he is not drawn so (the caller then
        renders the whole clip)."""
        if self.config.framing(clip.kind) != "own" or not self._own_library(clip.library.folder):
            return None
        return self._draw_parts(clip.parts())

    def _draw_parts(self, parts: Iterable[DriverPart]) -> Iterator[np.ndarray]:
        folder, drawing = self.library.frames.folder, _Drawing(self, True)
        base, mouth, landmarks = [], [], []
        held = max(round(self.config.ease_seconds * self.library.frames.fps), 1)
        done, steps = 0, None
        for ended, part in _then_end(parts):
            if part is not None:
                base.append(part.base)
                mouth.append(part.mouth)
                landmarks.append(part.landmarks)
            count = sum(len(b) for b in base)
            ready = count if ended else count - held
            if ready <= done:
                continue
            started = time.perf_counter()
            cut = (folder, np.concatenate(base), np.concatenate(mouth))
            steps = plan_from_cut(self.library, cut, np.concatenate(landmarks).astype(np.float64), self.config,
                                  ease_out=ended)
            self.report.seconds["retrieve"] += time.perf_counter() - started
            for t in range(done, ready):
                out = drawing.frame(steps, t, ready)
                self.report.frames += 1
                self.report.swapped += 1
                yield out
            done = ready

    def _own_library(self, folder: Path) -> bool:
        return Path(folder).resolve() == self.library.frames.folder.resolve()

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


class _Drawing:
    """One video's frame-by-frame drawing: his frames decoded a second of output at a time, just
    before they are drawn (an answer that plays while it renders starts sooner and never waits
    for one long decode), the colour matcher's state carried from frame to frame."""

    def __init__(self, renderer: ExemplarRenderer, own: bool):
        self.renderer, self.own = renderer, own
        self.pixels: dict[int, np.ndarray] = {}
        self.colour = ColourMatcher("rct", 0.8)

    def frame(self, steps: Plan, t: int, planned: int, background: np.ndarray | None = None,
              points: np.ndarray | None = None) -> np.ndarray:
        """Output frame t of `steps` (of which the first `planned` frames are final): in his own
        scene, or over `background` (the driver's frame) at its face's `points`."""
        renderer = self.renderer
        if any(i not in self.pixels for i in _frames_used(steps, slice(t, t + 1))):
            started = time.perf_counter()
            wanted = _frames_used(steps, slice(t, min(t + DECODE_WINDOW, planned)))
            self.pixels.update(renderer.library.frames.frames([i for i in wanted if i not in self.pixels]))
            renderer.report.seconds["retrieve"] += time.perf_counter() - started
        if self.own:
            background, points = renderer.scene(steps, t, self.pixels)
        return renderer.draw(background, points, steps, t, self.pixels, self.colour, self.own)


def _then_end(parts: Iterable[DriverPart]) -> Iterator[tuple[bool, DriverPart | None]]:
    """(False, part) for each part as it comes, then (True, None) once they have ended."""
    for part in parts:
        yield False, part
    yield True, None


def _frames_used(steps: Plan, times: slice) -> list[int]:
    """The library frames (sources, blends and bases) drawn at `times` of a plan, sorted."""
    used = set(steps.source[times].tolist()) | set(steps.base[times][steps.base[times] >= 0].tolist())
    blend = steps.blend[times]
    home = {steps.home} if steps.home >= 0 else set()
    return sorted(used | set(blend[blend >= 0].tolist()) | home)
