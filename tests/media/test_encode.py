import numpy as np
import pytest

from avatar.errors import MediaError
from avatar.media import iter_frames, probe
from avatar.media.encode import VideoWriter


def test_writes_playable_h264_with_aac_cut_to_video_length(make_video, tmp_path):
    sound = make_video("sound.mp4", seconds=5, audio=True)  # longer than the video
    out = tmp_path / "clip.mp4"
    with VideoWriter(out, 64, 48, 25, audio=sound) as writer:
        for i in range(50):
            writer.write(np.full((48, 64, 3), (i * 5, 0, 255 - i * 5), np.uint8))
    info = probe(out)
    assert info.codec == "h264" and info.audio_codec == "aac" and info.frames == 50
    assert info.duration == pytest.approx(2.0, abs=0.05)
    first = next(iter_frames(out)).rgb
    assert first[..., 2].mean() > 200 and first[..., 0].mean() < 30  # colours survive, RGB order


def test_nothing_is_left_when_rendering_fails(tmp_path):
    out = tmp_path / "clip.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(out, 64, 48, 25) as writer:
            writer.write(np.zeros((48, 64, 3), np.uint8))
            raise RuntimeError("render crashed")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(MediaError, match="no frames"):
        with VideoWriter(out, 64, 48, 25):
            pass
    with pytest.raises(ValueError):
        VideoWriter(out, 63, 48, 25)


def test_short_sound_is_padded_so_no_frame_is_lost(make_video, tmp_path):
    sound = make_video("blip.mp4", seconds=1, audio=True)
    out = tmp_path / "clip.mp4"
    with VideoWriter(out, 64, 48, 25, audio=sound) as writer:
        for _ in range(50):
            writer.write(np.zeros((48, 64, 3), np.uint8))
    info = probe(out)
    assert info.frames == 50 and info.has_audio


def _boxes(data: bytes) -> list[bytes]:
    """The top-level MP4 box types of `data` (the last one may be cut short)."""
    kinds, at = [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        kinds.append(data[at + 4:at + 8])
        if size < 8:
            break
        at += size
    return kinds


def test_a_live_video_grows_in_playable_fragments_while_frames_are_written(make_video, tmp_path):
    import time

    sound = make_video("sound.mp4", seconds=3, audio=True)
    out, live = tmp_path / "clip.mp4", tmp_path / "clip.live.mp4"
    with VideoWriter(out, 64, 48, 25, audio=sound, live=live) as writer:
        for i in range(25):
            writer.write(np.full((48, 64, 3), (i * 5, 0, 255 - i * 5), np.uint8))
        deadline = time.monotonic() + 10
        while b"moof" not in _boxes(live.read_bytes()) and time.monotonic() < deadline:
            time.sleep(0.02)
        early = _boxes(live.read_bytes())
        assert early[:2] == [b"ftyp", b"moov"] and b"moof" in early  # playable before the end
        assert not out.exists()
        for i in range(25):
            writer.write(np.zeros((48, 64, 3), np.uint8))
    info = probe(out)  # the finished MP4: every frame, sound cut to the picture's length
    assert info.codec == "h264" and info.audio_codec == "aac" and info.frames == 50
    assert info.duration == pytest.approx(2.0, abs=0.05)
    assert _boxes(out.read_bytes()).index(b"moov") < _boxes(out.read_bytes()).index(b"mdat")  # starts at once
    assert probe(live).has_audio and probe(live).frames == 50


def test_a_live_video_without_sound_is_finished_too(tmp_path):
    out, live = tmp_path / "clip.mp4", tmp_path / "clip.live.mp4"
    with VideoWriter(out, 64, 48, 25, live=live) as writer:
        for _ in range(30):
            writer.write(np.zeros((48, 64, 3), np.uint8))
    assert probe(out).frames == 30 and not probe(out).has_audio


def test_a_live_video_takes_its_sound_as_it_is_made(tmp_path):
    """The sound of an answer still being spoken: chunks arrive while frames are written; the live
    video plays before the last chunk exists, and the finished one has all of it."""
    import threading
    import time

    rate = 22050
    second_chunk = threading.Event()

    def sound():
        tone = (8000 * np.sin(np.arange(rate) * 2 * np.pi * 440 / rate)).astype(np.int16)
        yield tone  # the first second
        second_chunk.wait(10)
        yield tone  # the second, once the test has seen the video playable

    out, live = tmp_path / "clip.mp4", tmp_path / "clip.live.mp4"
    with VideoWriter(out, 64, 48, 25, live=live, sound=sound(), sound_rate=rate) as writer:
        for _ in range(20):
            writer.write(np.zeros((48, 64, 3), np.uint8))
        deadline = time.monotonic() + 10
        while b"moof" not in _boxes(live.read_bytes()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert b"moof" in _boxes(live.read_bytes())  # playable before the rest of the sound was made
        second_chunk.set()
        for _ in range(30):
            writer.write(np.zeros((48, 64, 3), np.uint8))
    info = probe(out)
    assert info.frames == 50 and info.audio_codec == "aac" and info.duration == pytest.approx(2.0, abs=0.05)
    assert probe(live).has_audio
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.live.mp4", "clip.mp4"]  # no sound file left


def test_sound_that_fails_while_it_is_made_fails_the_video(tmp_path):
    def sound():
        yield np.zeros(22050, np.int16)
        raise RuntimeError("the voice failed")

    out = tmp_path / "clip.mp4"
    with pytest.raises(RuntimeError, match="voice failed"):
        with VideoWriter(out, 64, 48, 25, sound=sound(), sound_rate=22050) as writer:
            for _ in range(10):
                writer.write(np.zeros((48, 64, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="sample rate"):
        VideoWriter(out, 64, 48, 25, sound=iter([]))
