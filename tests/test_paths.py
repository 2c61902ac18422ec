"""The cache folders and the atomic writers every stage uses."""

import stat

import pytest

from avatar.errors import UserError
from avatar.paths import atomic_folder, atomic_path, atomic_write, cache_dir, private_dirs, writable_dir


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "answer.mp4"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.name.endswith("answer.mp4") and tmp.name.startswith(".")  # ffmpeg reads the suffix
            tmp.write_bytes(b"half")
            raise RuntimeError("writer crashed")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answer.mp4"]
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
        assert target.read_bytes() == b"old"  # readers see the old file until the end
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answer.mp4"]


def test_atomic_write_keys_are_private_from_the_start(tmp_path):
    key = atomic_write(tmp_path / "key.pem", b"secret", mode=0o600)
    assert key.read_bytes() == b"secret"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    atomic_write(key, "replaced")
    assert key.read_text() == "replaced"


def test_atomic_folder_keeps_the_old_folder_when_building_fails(tmp_path):
    library = tmp_path / "library"
    with atomic_folder(library) as staging:
        (staging / "index.npz").write_bytes(b"v1")
    with pytest.raises(ValueError):
        with atomic_folder(library) as staging:
            (staging / "index.npz").write_bytes(b"half")
            raise ValueError("build failed")
    assert (library / "index.npz").read_bytes() == b"v1"
    with atomic_folder(library) as staging:
        (staging / "index.npz").write_bytes(b"v2")
    assert (library / "index.npz").read_bytes() == b"v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["library"]


def test_writable_dir_explains_a_file_in_the_way(tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("a file")
    with pytest.raises(UserError, match="a file is in the way"):
        writable_dir(blocker / "crops", "output folder")


def test_cache_folders_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AVATAR_CACHE", str(tmp_path))
    assert cache_dir("answers") == tmp_path / "answers"
    assert cache_dir("tensorrt") in private_dirs() and cache_dir("answers") not in private_dirs()
    with pytest.raises(ValueError):
        cache_dir("elsewhere")


def test_a_killed_process_scratch_is_swept_at_once_a_live_ones_is_kept(tmp_path, monkeypatch):
    """A render killed mid-answer left its temp files until they were an hour old."""
    import signal
    import subprocess
    import sys

    from pathlib import Path

    from avatar.paths import scratch_dir, sweep_scratch

    monkeypatch.setenv("AVATAR_CACHE", str(tmp_path))
    child = ("import sys, time; from avatar.paths import scratch_dir; folder = scratch_dir(); "
             "(folder / 'live-answer.mp4').write_bytes(b'half an answer'); print(folder, flush=True); time.sleep(60)")
    killed = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    living = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        dead_folder, live_folder = Path(killed.stdout.readline().strip()), Path(living.stdout.readline().strip())
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        ours = scratch_dir()
        (ours / "mine.wav").write_bytes(b"in use")
        assert sweep_scratch() == 1
        assert not dead_folder.exists() and (live_folder / "live-answer.mp4").is_file() and (ours / "mine.wav").is_file()
    finally:
        living.kill()
        living.wait()
    assert sweep_scratch() == 1 and not live_folder.exists()
