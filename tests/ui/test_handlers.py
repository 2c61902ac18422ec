"""App handlers called directly, where a failure has to be provoked."""

from types import SimpleNamespace

import pytest

from avatar.adaptation import Adaptation
from avatar.driver import RecordedClips
from avatar.ui import app


def test_a_render_that_fails_after_recording_keeps_the_recording(make_video, tiny_model, tmp_path, monkeypatch):
    clips = RecordedClips(tmp_path / "clips")

    def failing_say(*args, **kwargs):
        raise RuntimeError("the swap model crashed")

    avatar = SimpleNamespace(clips=clips, say=failing_say, adaptation=Adaptation(tiny_model, clips))
    monkeypatch.setattr(app, "_avatar", lambda model=None: avatar)
    status, preview = app._save_recording("Hi", str(make_video("kept.mp4", seconds=2, audio=True)), True,
                                          progress=lambda *args, **kwargs: None)
    assert preview is None and "could not be rendered; the recording is kept" in status
    kept = clips.get("Hi")
    assert kept is not None and kept.video.is_file() and kept.duration == pytest.approx(2.0, abs=0.05)


def test_adapting_needs_the_person_to_agree_first(monkeypatch):
    monkeypatch.setattr(app, "_avatar", lambda model=None: pytest.fail("nothing may start without agreement"))
    with pytest.raises(Exception, match="agree"):
        app._start_adaptation(False, None)


def test_adaptation_progress_shows_the_preview_pixels_not_a_private_path(tmp_path, monkeypatch):
    from PIL import Image

    from avatar.adaptation import AdaptStatus

    preview = tmp_path / "adapt" / "run" / "preview.png"
    preview.parent.mkdir(parents=True)
    Image.new("RGB", (320, 64), (200, 30, 30)).save(preview)
    status = AdaptStatus("training", "Training: step 25 of 1000.", 0.12, None, preview)
    avatar = SimpleNamespace(adaptation=SimpleNamespace(status=lambda: status))
    monkeypatch.setattr(app, "_avatar", lambda model=None: avatar)
    text, image, timer, _ = app._adaptation_status(None)
    assert text == "Training: step 25 of 1000. (12%)"
    # Pixels, which Gradio saves and serves itself: it refuses to serve the blocked training folder.
    assert isinstance(image["value"], Image.Image) and image["value"].getpixel((5, 5)) == (200, 30, 30)
    assert timer.active
