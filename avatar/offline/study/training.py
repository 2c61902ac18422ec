"""Training the study's models: every model with the same driver faces (A), architecture,
steps and seed, from a shared base trained on the driver alone; only side B differs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from avatar.dataset import load_faces
from avatar.offline.study.sets import BSet


@dataclass(frozen=True)
class StudyBudget:
    """How much each model gets: side in px, optimiser steps (batch 16 a side), seeds, and the
    held-out driver frames measured."""

    size: int
    steps: int
    seeds: tuple[int, ...]
    driver_frames: int = 400
    # Steps of the shared base every model starts from: both decoders trained on the driver's
    # faces alone, so the base can draw a face but has never seen the presenter (0: no base).
    base_steps: int = 0


# cpu-*: 64 px, the GAN's own resolution, so that synthetic and real sets are compared at the
# side the generator actually draws (at 128 px a synthetic set would lose on resolution alone).
# From nothing, 2,000 steps at 64 px still give a blurred ghost of a face (found by dlib in half
# the frames), which cannot separate the B sets: the CPU budgets start every model from a base
# pretrained on the driver alone, as DeepFaceLab users start from a pretrained model.
STUDY_BUDGETS = {
    "cpu-short": StudyBudget(64, 1000, (0, 1), 300, base_steps=2000),
    "cpu-long": StudyBudget(64, 6000, (0, 1, 2), 400, base_steps=10000),
    "gpu": StudyBudget(128, 20000, (0, 1, 2), 800, base_steps=20000),
}


def model_name(b: BSet, seed: int) -> str:
    return f"{b.name}-s{seed}"


def _train(a: Path, b: Path, run: Path, size: int, steps: int, seed: int, consent: Path, init: Path | None,
           on_step: Callable | None) -> None:
    """Train the `fast` landmark preset at `size` px to `steps` under `consent` (resuming a
    stopped run, else starting from `init`); TrainingStopped when a signal stops it first."""
    from dataclasses import replace

    from avatar.training.model import preset
    from avatar.training.train import TrainConfig, train_run

    train_run(a, b, run, replace(preset("fast", size), landmarks=True),
              TrainConfig(steps=steps, seed=seed, preview_every=500, checkpoint_every=250), consent, init=init,
              on_step=on_step)


def finished(run: Path, steps: int) -> bool:
    """Whether the run has trained all `steps` (its last checkpoint is never pruned)."""
    from avatar.training.checkpoint import checkpoint_path

    return checkpoint_path(run, steps).is_file()


def train_base(driver: Path, run: Path, budget: StudyBudget, consent: Path,
               on_step: Callable | None = None) -> Path | None:
    """The shared base (both sides: the driver's faces; the run keeps the study's consent
    record), trained once; None without one."""
    if budget.base_steps <= 0:
        return None
    _train(driver, driver, run, budget.size, budget.base_steps, 0, consent, None, on_step)
    return run


def train_and_export(a: Path, b: Path, run: Path, model: Path, budget: StudyBudget, seed: int,
                     consent: Path, base: Path | None = None, on_step: Callable | None = None) -> None:
    """Train one study model from `base` (or from nothing) and export it; resumes a stopped run."""
    from avatar.training.checkpoint import list_checkpoints
    from avatar.training.export import export

    if (model / "model.onnx").is_file():
        return
    _train(a, b, run, budget.size, budget.steps, seed, consent, base, on_step)
    parity = load_faces("parity", a, budget.size, max_faces=8)
    export(list_checkpoints(run)[-1], model, parity.crops, parity_landmarks=parity.landmarks, presenter_faces=0)
