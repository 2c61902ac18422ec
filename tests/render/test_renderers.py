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
    clip = spoken_clip("Hello.", drawing, config, DriverLibrary.load(DEFAULT_LIBRARY), tmp_path).whole()
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


def test_an_answer_in_his_own_scene_is_drawn_as_its_sentences_come_exactly_as_drawn_whole(tmp_path):
    presenter = open_presenter(DEFAULT_MODEL)
    config = RenderConfig(renderer="exemplar")
    drawing = load_drawing(presenter, config)
    text = "Thank you for waiting. I will check your order now. It left on Tuesday."
    clip = spoken_clip(text, drawing, config, None, tmp_path)
    as_they_come = list(renderer_for(drawing, config).render_spoken(clip))
    whole = [out for _, out in renderer_for(drawing, config).render(clip.whole(), with_driver=False)]
    assert len(as_they_come) == len(whole) == clip.whole().frame_count
    assert all(np.array_equal(a, b) for a, b in zip(as_they_come, whole))
    # The swap needs the whole clip: it says so, and render_clip then waits for it.
    swap = RenderConfig(renderer="swap")
    assert renderer_for(load_drawing(presenter, swap), swap).render_spoken(clip) is None


def test_an_answer_starts_playing_before_its_speech_has_ended(tmp_path, monkeypatch):
    """The first frame is drawn and written while the second sentence is still unspoken."""
    import threading

    import avatar.driver.spoken as spoken
    from avatar.media import probe

    spoken_first_frame = threading.Event()
    speak = spoken.speak_sentences

    def held_back(text, voice):
        sentences = speak(text, voice)
        yield next(sentences)
        assert spoken_first_frame.wait(30)  # the rest only once the video has its first frame
        yield from sentences

    monkeypatch.setattr(spoken, "speak_sentences", held_back)
    presenter = open_presenter(DEFAULT_MODEL)
    config = RenderConfig(renderer="exemplar")
    drawing = load_drawing(presenter, config)
    clip = spoken_clip("Thank you for waiting. I will check your order now.", drawing, config, None, tmp_path)
    live = tmp_path / "live.mp4"

    def on_progress(done, total):
        if done == 1:
            assert 20 <= clip.frame_count <= 30  # only the first sentence (about a second) is planned
            spoken_first_frame.set()

    report = render_clip(clip, tmp_path / "answer.mp4", drawing, presenter, "test", config,
                         on_progress=on_progress, live=live)
    info = probe(tmp_path / "answer.mp4")
    assert spoken_first_frame.is_set() and report.frames == clip.frame_count == info.frames
    assert info.audio_codec == "aac" and info.duration == pytest.approx(clip.frame_count / clip.fps, abs=0.05)
