import numpy as np
import pytest

from avatar.config import RenderConfig
from avatar.media import iter_frames, probe
from avatar.render import render_video


def test_render_keeps_length_sound_and_size(franck_clip, tiny_model, tmp_path):
    out = tmp_path / "out.mp4"
    report = render_video(franck_clip, tiny_model, out, work_dir=tmp_path / "work")
    source, rendered = probe(franck_clip), probe(out)
    assert rendered.frames == source.frames == report.frames == 48
    assert report.swapped == 48 and not report.skipped
    assert (rendered.width, rendered.height) == (source.width, source.height)
    assert rendered.has_audio and rendered.duration == pytest.approx(2.0, abs=0.05)
    assert set(report.seconds) >= {"track", "align", "swap", "composite", "encode"}


def test_side_by_side_shows_driver_left_and_changed_face_right(franck_clip, tiny_model, tmp_path):
    out = tmp_path / "sbs.mp4"
    render_video(franck_clip, tiny_model, out, RenderConfig(colour="none"), side_by_side=True,
                 work_dir=tmp_path / "work")
    frame = next(iter_frames(out)).rgb
    driver = next(iter_frames(franck_clip)).rgb
    left, right = frame[:, :360].astype(int), frame[:, 360:].astype(int)
    assert frame.shape == (288, 720, 3)
    assert np.abs(left - driver).mean() < 4  # the driver, as it was (after re-encoding)
    centre = (slice(80, 200), slice(120, 240))  # where franck's face is
    assert np.abs(right[centre] - driver[centre]).mean() > 8  # the face region was replaced
    assert np.abs(right[:40] - driver[:40]).mean() < 4  # the background was not
