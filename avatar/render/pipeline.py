"""Driver clip -> presenter video: the presenter drawn by a renderer (`avatar.render.renderers`:
the exemplar renderer or the swap), then label, encode, sign. `render_clip` is the one function
every video goes through (answers, `avatar say`, `avatar render`, dialogue answers).

Frames are (H, W, 3) uint8 RGB throughout.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from avatar.config import RenderConfig
from avatar.driver import DriverLibrary
from avatar.driver.spoken import SpokenDriver
from avatar.errors import UserError
from avatar.media.clip import DriverClip
from avatar.media.encode import VideoWriter
from avatar.paths import temp_beside, writable_dir
from avatar.presenter import Presenter
from avatar.provenance.credentials import COMPOSITE_SYNTHETIC, local_identity, sign_video
from avatar.render.exemplar import PresenterLibrary
from avatar.render.label import add_label
from avatar.render.renderers import Drawing, renderer_for, speech_library
from avatar.render.report import RenderReport
from avatar.speech import SpeechConfig


def spoken_clip(text: str, drawing: Drawing | None, config: RenderConfig, library: DriverLibrary, work: Path,
                voice: SpeechConfig = SpeechConfig()) -> SpokenDriver:
    """`text` spoken (by `voice`) as a synthesised driver, made sentence by sentence while it is
    rendered (`SpokenDriver`: pass it to `render_clip`), cut from the presenter's own frames when
    the exemplar renderer draws him in his own scene, else from the driver `library` (see
    `speech_library`); its sound is kept in `work`."""
    source = speech_library(drawing, config, library)
    # In his own scene the head leaves the listening loop's first frame and returns to it, so the
    # answer starts and ends where the loop is.
    own = isinstance(drawing, PresenterLibrary) and source is drawing.frames
    return SpokenDriver(text, voice, source, work, near=int(drawing.listening[0]) if own else None)


def render_clip(clip: DriverClip | SpokenDriver, out: Path, model: Drawing | None, presenter: Presenter | None,
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
    on_progress(done, total) is called after every frame (total: the frames planned so far, for
    a clip still being spoken); an exception it raises stops the render (nothing is written to `out`).

    A `SpokenDriver` is drawn as its sentences come when the renderer can (the exemplar renderer in
    his own scene), its sound streamed with it; else it is rendered once it is whole. It is closed
    when the render ends.
    """
    try:
        return _render_clip(clip, out, model, presenter, title, config, side_by_side, on_progress, live)
    finally:
        if isinstance(clip, SpokenDriver):
            clip.close()


def _render_clip(clip: DriverClip | SpokenDriver, out: Path, model: Drawing | None, presenter: Presenter | None,
                 title: str, config: RenderConfig, side_by_side: bool,
                 on_progress: Callable[[int, int], None] | None, live: Path | None) -> RenderReport:
    report = RenderReport()
    identity = local_identity()  # first: a video that could not be signed is never made
    renderer = renderer_for(model, config) if model is not None else None
    spoken = clip if isinstance(clip, SpokenDriver) else None
    drawn = renderer.render_spoken(spoken) if spoken is not None and renderer and not side_by_side else None
    if spoken is not None and drawn is None:
        clip = spoken.whole()
    width, height = renderer.frame_size(clip) if renderer else (clip.width, clip.height)
    beside = round(clip.width * height / clip.height / 2) * 2 if side_by_side and renderer else 0
    if drawn is not None:
        frames = _timed(((None, rendered) for rendered in drawn), report.seconds, "driver")
        sound = {"sound": spoken.sound(), "sound_rate": spoken.sample_rate}
    else:
        frames = _timed(renderer.render(clip, with_driver=side_by_side) if renderer else
                        ((f, f.rgb) for f in clip.frames()), report.seconds, "driver")
        sound = {"audio": clip.audio}
    last, waiting = None, 0  # the last frame written; undrawn frames before the first drawn one
    # Encoded beside `out` and signed onto it: an unsigned video never reaches `out`.
    unsigned = temp_beside(writable_dir(Path(out).parent, "output folder") / Path(out).name, "unsigned")
    try:
        with VideoWriter(unsigned, width + beside, height, clip.fps, live=live, **sound) as writer:
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
                if spoken is not None and report.frames == 1:
                    spoken.first_frame_drawn()
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
                       identity=identity, out=out, voice=clip.voice)
        else:
            sign_video(unsigned, title, None, source_type=COMPOSITE_SYNTHETIC, identity=identity, out=out,
                       voice=clip.voice)
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
