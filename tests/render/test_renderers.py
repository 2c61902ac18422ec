"""Both renderers keep one contract, and the render path reaches them only through it."""

import numpy as np
import pytest

from avatar.config import RenderConfig
from avatar.driver import DriverLibrary
from avatar.driver.library import DEFAULT_LIBRARY
from avatar.presenter import DEFAULT_MODEL, open_presenter
from avatar.render import (ExemplarRenderer, PresenterRenderer, SwapRenderer, load_drawing, render_clip, renderer_for,
                           spoken_clip)
from avatar.render.pipeline import speech_library
from avatar.render.report import RenderReport


@pytest.mark.parametrize(("name", "kind"), [("exemplar", ExemplarRenderer), ("swap", SwapRenderer)])
def test_each_renderer_keeps_the_contract_and_draws_a_spoken_answer(name, kind, tmp_path):
    presenter = open_presenter(DEFAULT_MODEL)
    config = RenderConfig(renderer=name)
    drawing = load_drawing(presenter, config)
    clip = spoken_clip("Hello.", drawing, config, DriverLibrary.load(DEFAULT_LIBRARY), tmp_path)
    renderer = renderer_for(drawing, config)
    assert isinstance(renderer, kind) and isinstance(renderer, PresenterRenderer)
    width, height = renderer.frame_size(clip)
    frames = [out for _, out in renderer.render(clip, with_driver=False)]
    assert len(frames) == clip.frame_count
    drawn = [frame for frame in frames if frame is not None]
    assert len(drawn) > 0.9 * len(frames)
    assert all(frame.shape == (height, width, 3) and frame.dtype == np.uint8 for frame in drawn)
    assert isinstance(renderer.report, RenderReport) and renderer.report.swapped == len(drawn)
    assert renderer.describe(clip)


def test_the_spoken_clip_is_cut_from_his_own_frames_only_when_he_is_drawn_in_his_own_scene(tmp_path):
    presenter = open_presenter(DEFAULT_MODEL)
    library = DriverLibrary.load(DEFAULT_LIBRARY)
    own, swap = RenderConfig(renderer="exemplar"), RenderConfig(renderer="swap")
    assert speech_library(load_drawing(presenter, own), own, library) is not library
    assert speech_library(load_drawing(presenter, swap), swap, library) is library
    assert speech_library(None, own, library) is library


def test_render_clip_asks_the_renderer_for_its_frame_size(tmp_path):
    """render_clip writes what the contract says: a renderer whose frames are another size than
    the driver's (his own scene) gives a video of that size."""
    from avatar.media import probe

    presenter = open_presenter(DEFAULT_MODEL)
    config = RenderConfig(renderer="exemplar")
    drawing = load_drawing(presenter, config)
    clip = spoken_clip("Hi.", drawing, config, DriverLibrary.load(DEFAULT_LIBRARY), tmp_path)
    width, height = renderer_for(drawing, config).frame_size(clip)
    render_clip(clip, tmp_path / "out.mp4", drawing, presenter, "AI presenter video", config)
    info = probe(tmp_path / "out.mp4")
    assert (info.width, info.height) == (width, height)
