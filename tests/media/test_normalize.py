"""normalize(): one predictable file per upload, transcoded only when needed and only once."""

from __future__ import annotations

import importlib
import wave

import cv2
import numpy as np
import pytest

from avatar.config import MediaLimits
from avatar.errors import MediaError
from avatar.media import iter_frames, normalize, probe


def test_already_normal_file_is_returned_as_is(make_video, tmp_path):
    source = make_video("good.mp4")
    result = normalize(source, tmp_path)
    assert result.video == source and result.audio is None
    assert result.info == probe(source)
    assert not list(tmp_path.iterdir())  # nothing written


def test_requested_fps_forces_transcode(make_video, tmp_path):
    result = normalize(make_video("good.mp4"), tmp_path, fps=10)
    assert result.video.parent == tmp_path
    assert result.info.fps == pytest.approx(10) and result.info.frames == 20
    assert result.info.constant_frame_rate


def test_variable_frame_rate_becomes_constant(make_video, tmp_path):
    source = make_video(
        "vfr.mp4", seconds=2, fps=25,
        vf="setpts='if(lt(N,25),N/25,1+(N-25)/10)/TB'", extra=("-fps_mode", "passthrough"),
    )
    assert not probe(source).constant_frame_rate
    result = normalize(source, tmp_path)
    assert result.video != source
    assert result.info.constant_frame_rate and result.info.codec == "h264"
    assert result.info.duration == pytest.approx(probe(source).duration, abs=0.15)


def test_jittery_phone_rate_snaps_to_common_rate(make_video, tmp_path):
    # 30 fps with every other frame 4 ms early, like a phone's variable-rate recording.
    source = make_video(
        "jitter.mp4", seconds=2, fps=30,
        vf="settb=1/90000,setpts='(N/30-0.004*mod(N\\,2))/TB'",
        extra=("-fps_mode", "passthrough", "-enc_time_base", "1/90000",
               "-video_track_timescale", "90000"),
    )
    assert not probe(source).constant_frame_rate
    result = normalize(source, tmp_path)
    assert result.info.constant_frame_rate and result.info.fps == pytest.approx(30)


def test_odd_dimensions_become_even(make_video, tmp_path):
    source = make_video(
        "odd.mp4", size="321x241",
        codec=("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p"),
    )
    result = normalize(source, tmp_path)
    assert (result.info.width, result.info.height) == (320, 240)
    frame = next(iter_frames(result.video))
    assert frame.rgb.shape == (240, 320, 3)


def test_audio_is_extracted_to_wav(make_video, tmp_path):
    source = make_video("talk.mp4", seconds=2, audio=True)
    result = normalize(source, tmp_path)
    assert result.video == source  # the video itself was already normal
    assert result.audio is not None and result.audio.suffix == ".wav"
    assert result.audio.parent == tmp_path
    with wave.open(str(result.audio), "rb") as wav:
        assert wav.getsampwidth() == 2 and wav.getframerate() == 44100
        assert wav.getnframes() / wav.getframerate() == pytest.approx(2.0, abs=0.05)


def test_transcoded_video_has_no_audio(make_video, tmp_path):
    result = normalize(make_video("talk.mp4", seconds=2, audio=True), tmp_path, fps=10)
    assert result.video.parent == tmp_path and not result.info.has_audio
    assert result.audio is not None


def test_second_call_reuses_transcode(make_video, tmp_path):
    source = make_video("vfr2.mp4", vf="setpts='N*N/600/TB'", extra=("-fps_mode", "passthrough"))
    first = normalize(source, tmp_path)
    stamp = first.video.stat().st_mtime_ns
    second = normalize(source, tmp_path)
    assert second.video == first.video and second.video.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.video.name]  # no temp files left


def test_rotation_is_applied(rotated_astronaut, tmp_path):
    source, upright = rotated_astronaut
    result = normalize(source, tmp_path)
    assert result.info.rotation == 0
    assert (result.info.width, result.info.height) == (upright.shape[1], upright.shape[0])
    frame = next(iter_frames(result.video)).rgb.astype(np.float32)
    upright_error = np.abs(frame - upright).mean()
    # The wrong way round (upside down) must look far worse than the upright reference.
    flipped_error = np.abs(frame - np.rot90(upright, 2)).mean()
    assert upright_error < 8 and flipped_error > 5 * upright_error
    # Without normalising, the stored pixels are sideways.
    stored = next(iter_frames(source)).rgb
    assert stored.shape == (upright.shape[1], upright.shape[0], 3)
    sideways = cv2.resize(stored, (upright.shape[1], upright.shape[0])).astype(np.float32)
    assert np.abs(sideways - upright).mean() > 5 * upright_error


def test_raw_stream_without_timestamps_is_rewrapped(make_video, tmp_path):
    source = make_video("raw.h264", seconds=1, size="64x48", extra=("-f", "h264"))
    assert probe(source).declared_duration == 0
    result = normalize(source, tmp_path)
    assert result.video.suffix == ".mp4" and result.info.frames == 25
    assert result.info.declared_duration == pytest.approx(1.0)


def test_bad_input_is_refused_before_transcoding(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("not a video")
    with pytest.raises(MediaError, match="not a readable video"):
        normalize(path, tmp_path / "work")


def test_limits_are_applied(make_video, tmp_path):
    with pytest.raises(MediaError, match="too long"):
        normalize(make_video("good.mp4"), tmp_path, MediaLimits(max_seconds=1))


def test_silently_short_transcode_is_refused(make_video, tmp_path, monkeypatch):
    module = importlib.import_module("avatar.media.normalize")
    real = module.run_ffmpeg

    def cut_short(args, **kwargs):  # an ffmpeg that "succeeds" but writes only half a second
        real([*args[:-1], "-t", "0.5", args[-1]], **kwargs)

    monkeypatch.setattr(module, "run_ffmpeg", cut_short)
    with pytest.raises(MediaError, match="came out short"):
        normalize(make_video("good.mp4"), tmp_path, fps=10)
    assert not list(tmp_path.iterdir())  # the short file is not kept for reuse


def test_run_ffmpeg_failure_is_one_clear_line(tmp_path):
    from avatar.media.ffmpeg import run_ffmpeg

    with pytest.raises(MediaError) as caught:
        run_ffmpeg(["-i", str(tmp_path / "absent.mp4"), str(tmp_path / "out.mp4")], what="Copying")
    message = str(caught.value)
    assert message.startswith("Copying failed:") and "no such file" in message.lower()
    assert "\n" not in message


def test_audio_can_be_left_out(make_video, tmp_path):
    result = normalize(make_video("talk.mp4", seconds=2, audio=True), tmp_path, with_audio=False)
    assert result.audio is None and not list(tmp_path.glob("*.wav"))


@pytest.mark.parametrize("size, short_side, expected", [
    ("1280x720", 480, (852, 480)),  # 720p landscape: the height becomes 480, the aspect kept (even sides)
    ("720x1280", 480, (480, 852)),  # portrait: the width is the short side
    ("400x300", 480, (400, 300)),  # already small enough: left as it is
])
def test_a_working_resolution_scales_large_video_down(make_video, tmp_path, size, short_side, expected):
    source = make_video(f"{size}.mp4", seconds=1, size=size)
    result = normalize(source, tmp_path, short_side=short_side)
    assert (result.info.width, result.info.height) == expected
    assert (result.video == source) == (size == "400x300")  # nothing transcoded when nothing changes
    assert normalize(source, tmp_path).info.width == int(size.split("x")[0])  # another size, another file
