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
