"""Driver clip -> presenter video: the presenter drawn by a renderer (`avatar.render.renderers`:
the exemplar renderer or the swap), then label, encode, sign. `render_clip` is the one function
every video goes through (answers, `avatar say`, `avatar render`, dialogue answers).

Frames are (H, W, 3) uint8 RGB throughout.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from avatar.config import RenderConfig
from avatar.driver import DriverLibrary, synthesize_driver
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
from avatar.speech import SpeechConfig, synthesize, write_wav
from avatar.speech.voices import disclosure


def spoken_clip(text: str, drawing: Drawing | None, config: RenderConfig, library: DriverLibrary, work: Path,
                voice: SpeechConfig = SpeechConfig(), seconds: Counter | None = None,
                on_stage: Callable[[str], None] = lambda stage: None) -> DriverClip:
    """`text` spoken (by `voice`) as a synthesised driver clip with its sound (a WAV written into
    `work`), cut from the presenter's own frames when the exemplar renderer draws him in his own
    scene, else from the driver `library` (see `speech_library`). The time each stage took is
    added to `seconds` ("speech", "driver"); on_stage("speech" | "driver") as each begins."""
    seconds = seconds if seconds is not None else Counter()
    on_stage("speech")
    started = time.perf_counter()
    speech = synthesize(text, voice)
    audio = write_wav(speech, Path(work) / "speech.wav")
    seconds["speech"] += time.perf_counter() - started
    on_stage("driver")
    started = time.perf_counter()
    source = speech_library(drawing, config, library)
    # In his own scene the head leaves the listening loop's first frame and returns to it, so the
    # answer starts and ends where the loop is.
    own = isinstance(drawing, PresenterLibrary) and source is drawing.frames
    clip = synthesize_driver(speech, source, near=int(drawing.listening[0]) if own else None).clip(audio)
    clip = replace(clip, voice=disclosure(voice.voice))
    seconds["driver"] += time.perf_counter() - started
    return clip


def render_clip(clip: DriverClip, out: Path, model: Drawing | None, presenter: Presenter | None,
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
    renderer = renderer_for(model, config) if model is not None else None
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
