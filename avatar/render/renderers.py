"""The one small contract every renderer keeps, and the choice between them.

A *drawing* is what draws one presenter: his library of real frames (the exemplar renderer, the
product's default) or the study's autoencoder swap network. `renderer_for` makes the renderer of
one video from it; `render_clip` only ever talks to that renderer through `PresenterRenderer`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterator, Protocol, Union, runtime_checkable

import numpy as np

from avatar.config import RENDERERS, RenderConfig
from avatar.driver.library import DriverLibrary
from avatar.driver.spoken import SpokenDriver
from avatar.errors import UserError
from avatar.inference import SwapModel, load_swap_model
from avatar.inference.refiner import load_refiner
from avatar.media import Frame
from avatar.media.clip import DriverClip
from avatar.presenter import Presenter
from avatar.render.exemplar import ExemplarRenderer, PresenterLibrary
from avatar.render.report import RenderReport
from avatar.render.swap import SwapRenderer

Drawing = Union[SwapModel, PresenterLibrary]


@runtime_checkable
class PresenterRenderer(Protocol):
    """Draws the presenter into one driver clip (one instance per video: it may keep tracking,
    colour and retrieval state). `report` counts frames drawn and skipped and seconds by stage."""

    report: RenderReport

    def frame_size(self, clip: DriverClip) -> tuple[int, int]:
        """(width, height) of the frames `render` yields for `clip`."""

    def describe(self, clip: DriverClip) -> str:
        """How `clip` is drawn, in words (stated in the video's signed manifest)."""

    def render(self, clip: DriverClip, with_driver: bool = True) -> Iterator[tuple[Frame | None, np.ndarray | None]]:
        """(driver frame, drawn (H, W, 3) uint8 RGB frame, or None where the face cannot be
        drawn) for every frame of `clip`, in order; the driver frame is None unless
        `with_driver` (a renderer that does not need it may skip decoding it)."""

    def render_spoken(self, clip: SpokenDriver) -> Iterator[np.ndarray] | None:
        """The drawn frames of a synthesised driver still being spoken, drawn as its parts come
        (sooner than the whole: an answer starts playing after its first sentence), or None when
        this renderer needs the whole clip (`clip.whole()`)."""


def renderer_for(drawing: Drawing, config: RenderConfig = RenderConfig()) -> PresenterRenderer:
    """The renderer of one video drawn with `drawing` under `config`."""
    if isinstance(drawing, PresenterLibrary):
        return ExemplarRenderer(drawing, config.exemplar, config.track, config.min_face, drawing.refiner)
    return SwapRenderer(drawing, config)


def load_drawing(presenter: Presenter, config: RenderConfig = RenderConfig()) -> Drawing:
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


def speech_library(drawing: Drawing | None, config: RenderConfig,
                   library: DriverLibrary) -> DriverLibrary:
    """The frame library a synthesised answer's driver is cut from: the presenter's own when the
    exemplar renderer draws him in his own scene (his own mouths, chosen by the speech: no other
    face's expressions to map), else the driver `library`."""
    if isinstance(drawing, PresenterLibrary) and config.exemplar.synthesised == "own":
        return drawing.frames
    return library
