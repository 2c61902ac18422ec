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
