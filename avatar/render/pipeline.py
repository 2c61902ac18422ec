"""Driver clip -> presenter video: the presenter drawn by the exemplar renderer
(`avatar.render.exemplar`) or the swap (track, align, swap (batched), colour-match, blend), then
label, encode, sign. `render_clip` is the one function every video goes through (answers, `avatar
say`, `avatar render`, dialogue answers).

Frames are (H, W, 3) uint8 RGB throughout.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np

from avatar.config import RENDERERS, RenderConfig
from avatar.errors import UserError
from avatar.inference import SwapModel, load_swap_model
from avatar.inference.refiner import load_refiner
from avatar.media import Frame
from avatar.driver.library import DriverLibrary
from avatar.media.clip import DriverClip
from avatar.media.encode import VideoWriter
from avatar.paths import temp_beside, writable_dir
from avatar.presenter import Presenter
from avatar.provenance.credentials import COMPOSITE_SYNTHETIC, local_identity, sign_video
from avatar.render.colour import ColourMatcher
from avatar.render.exemplar import ExemplarRenderer, PresenterLibrary
from avatar.render.label import add_label
from avatar.render.report import FACE_TOO_SMALL, RenderReport
from avatar.vision import FaceTracker, align_face, hull_mask, paste_back, skin_mask, transform_points

class Renderer:
    """Swaps the presenter into a stream of frames. One instance per video (it keeps tracking
    and colour state); `process` yields output frames in order, batching model calls."""

    def frame_size(self, clip: DriverClip) -> tuple[int, int]:
        return clip.width, clip.height

    def describe(self, clip: DriverClip) -> str:
        return "autoencoder swap, in the driver's frame"

    def render(self, clip: DriverClip, with_driver: bool = True) -> Iterator[tuple[Frame, np.ndarray | None]]:
        """(driver frame, swapped frame or None) for every frame of `clip` (see `process`)."""
        return self.process(clip.frames(), clip.landmarks)

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


def load_drawing(presenter: Presenter, config: RenderConfig = RenderConfig()) -> SwapModel | PresenterLibrary:
    """What draws `presenter` under `config.renderer`: his library of real frames ("exemplar";
    "auto" when he has one) or the autoencoder swap network ("swap")."""
    if config.renderer not in RENDERERS:
        raise UserError(f"unknown renderer {config.renderer!r}: use one of {', '.join(RENDERERS)}.")
    if presenter.onnx is None or config.renderer == "exemplar" or (config.renderer == "auto" and
                                                                     presenter.library is not None):
        if presenter.library is None:
            raise UserError(f"the presenter {presenter.name} has no library of his own frames; build one with "
                            "`avatar library build`, or use the swap renderer.")
        library = PresenterLibrary.load(presenter.library)
        if presenter.refiner is not None and config.exemplar.refine:
            library = replace(library, refiner=load_refiner(presenter.refiner))
        return library
    return load_swap_model(presenter.onnx)


def speech_library(drawing: SwapModel | PresenterLibrary | None, config: RenderConfig,
                   library: DriverLibrary) -> DriverLibrary:
    """The frame library a synthesised answer's driver is cut from: the presenter's own when the
    exemplar renderer draws him in his own scene (his own mouths, chosen by the speech: no other
    face's expressions to map), else the driver `library`."""
    if isinstance(drawing, PresenterLibrary) and config.exemplar.synthesised == "own":
        return drawing.frames
    return library


def render_clip(clip: DriverClip, out: Path, model: SwapModel | PresenterLibrary | None, presenter: Presenter | None,
                title: str, config: RenderConfig = RenderConfig(), side_by_side: bool = False,
                on_progress: Callable[[int, int], None] | None = None, live: Path | None = None) -> RenderReport:
    """The one way a video is made: draw the presenter into every frame of `clip` (`model`: the
    swap network, or his library for the exemplar renderer, see `load_drawing`), label every
    frame "AI-generated", encode H.264 (+AAC from `clip.audio`) into `out`, and sign it with
    content credentials naming `presenter`. Returns the report (frames, held, seconds by stage).

    model None writes the driver clip itself (a synthesised driver, labelled and signed as a
    composite). A frame whose face cannot be drawn is never written as it is: the last (or,
    at the start, the first) drawn frame is held in its place, and when more than
    `config.max_unswapped` of the frames need that, or none can be drawn, nothing is written
    and a UserError says why. side_by_side puts driver | presenter in one frame (the driver
    scaled to the presenter's height). live: the video also grows at this path as fragmented MP4
    while it renders (unsigned; see `VideoWriter`), for a browser to play before it is finished.
    on_progress(done, total) is called after every frame; an exception it raises stops the
    render (nothing is written to `out`).
    """
    report = RenderReport()
    identity = local_identity()  # first: a video that could not be signed is never made
    if isinstance(model, PresenterLibrary):
        renderer = ExemplarRenderer(model, config.exemplar, config.track, config.min_face, model.refiner)
    else:
        renderer = Renderer(model, config) if model is not None else None
    width, height = renderer.frame_size(clip) if renderer else (clip.width, clip.height)
    beside = round(clip.width * height / clip.height / 2) * 2 if side_by_side and renderer else 0
    frames = _timed(renderer.render(clip, with_driver=side_by_side) if renderer else
                    ((f, f.rgb) for f in clip.frames()), report.seconds, "driver")
    last, waiting = None, 0  # the last frame written; undrawn frames before the first drawn one
    # Encoded beside `out` and signed onto it: an unsigned video never reaches `out`.
    unsigned = temp_beside(writable_dir(Path(out).parent, "output folder") / Path(out).name, "unsigned")
    try:
        with VideoWriter(unsigned, width + beside, height, clip.fps, audio=clip.audio, live=live) as writer:
            for frame, rendered in frames:
                report.frames += 1
                started = time.perf_counter()
                if rendered is None:  # not drawable: hold a drawn frame, never show this one
                    report.held += 1
                    if last is None:
                        waiting += 1
                    else:
                        writer.write(last)
                else:
                    if beside:
                        rendered = np.hstack([cv2.resize(frame.rgb, (beside, height), interpolation=cv2.INTER_AREA),
                                              rendered])
                    last = add_label(rendered)
                    for _ in range(waiting + 1):
                        writer.write(last)
                    waiting = 0
                report.seconds["encode"] += time.perf_counter() - started
                if on_progress:
                    on_progress(report.frames, clip.frame_count)
            if renderer is not None:
                report.swapped, report.skipped = renderer.report.swapped, renderer.report.skipped
                for stage, value in renderer.report.seconds.items():
                    report.seconds[stage] += value
                if report.swapped == 0 or report.held > config.max_unswapped * report.frames:
                    # Raised inside the writer: the partial file is deleted, nothing is published.
                    raise UserError(f"the presenter could not be put into this video: {report.describe()}. Use a "
                                    "video in which one face is clearly visible, facing the camera, and at least "
                                    f"{config.min_face} pixels wide.")
        started = time.perf_counter()
        if presenter is not None and renderer is not None:
            sign_video(unsigned, title, {**presenter.manifest_facts(), "renderer": renderer.describe(clip)},
                       identity=identity, out=out)
        else:
            sign_video(unsigned, title, None, source_type=COMPOSITE_SYNTHETIC, identity=identity, out=out)
        report.seconds["sign"] += time.perf_counter() - started
    finally:
        unsigned.unlink(missing_ok=True)
    report.duration = report.frames / clip.fps if report.frames else clip.duration
    return report


def _timed(items, seconds: Counter, stage: str):
    """Pass `items` through, adding the time spent producing each to seconds[stage]."""
    iterator = iter(items)
    while True:
        started = time.perf_counter()
        try:
            item = next(iterator)
        except StopIteration:
            return
        seconds[stage] += time.perf_counter() - started
        yield item
