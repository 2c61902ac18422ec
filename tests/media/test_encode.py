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
