import pytest

from avatar.driver import RecordedClips
from avatar.errors import MediaError, UserError
from avatar.media import probe


def test_save_get_replace_delete(make_video, tmp_path):
    clips = RecordedClips(tmp_path / "clips")
    first = clips.save("What is AI?", make_video("answer.mp4", seconds=2, audio=True), source="webcam")
    assert first.duration == pytest.approx(2.0, abs=0.05) and first.audio is not None and first.source == "webcam"
    assert probe(first.video).constant_frame_rate
    again = clips.get("  what is AI ")  # same words, other case and punctuation
    assert again is not None and again.video == first.video
    assert clips.get("What is a computer?") is None
    longer = clips.save("What is AI?", make_video("answer2.mp4", seconds=3))
    assert longer.duration == pytest.approx(3.0, abs=0.05) and longer.audio is None
    assert len(clips.all()) == 1
    assert clips.delete("what is ai?") and clips.get("What is AI?") is None and not clips.delete("What is AI?")


def test_a_bad_upload_is_refused_and_the_old_clip_is_kept(make_video, tmp_path):
    clips = RecordedClips(tmp_path / "clips")
    kept = clips.save("Hello", make_video("hello.mp4", seconds=1))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    with pytest.raises(MediaError, match="not a readable video"):
        clips.save("Hello", broken)
    assert clips.get("Hello").video == kept.video and probe(kept.video).frames == 25
    assert [p.name for p in (tmp_path / "clips").iterdir()] == [kept.video.parent.name]  # no leftovers
    with pytest.raises(UserError, match="needs the text"):
        clips.save("?!", make_video("hello.mp4", seconds=1))
