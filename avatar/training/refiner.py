"""The exemplar renderer's refiner: a small person-specific network trained by self-reenactment.

His library's frame j is re-drawn from a neighbouring frame i exactly as the renderer draws
answers (warp, blend: `render.exemplar.reenactment_pairs`), and the network learns to turn that
into the real frame j: seams where warp triangles meet, lips stretched over a mouth that was
closed, eyes and teeth from another moment. It predicts a bounded correction inside the drawn
region only, so what the warp already got right (his real texture) passes through.

Tensors are NCHW float32 RGB in [0, 1]. A model file holds config and modules only; training
checkpoints go through `training.checkpoint` (atomic, last few kept, exact resume).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from avatar.config import RefinerTrainConfig
from avatar.errors import UserError
from avatar.paths import atomic_path
from avatar.presenter import REFINER_FILE, open_presenter, write_record
from avatar.training.checkpoint import checkpoint_path, list_checkpoints, load_checkpoint, prune, save_atomic
from avatar.training.onnx_file import parity_error, write_onnx
from avatar.training.runs import StopRequest, TrainingStopped, append_stats, truncate_stats



@dataclass(frozen=True)
class RefinerConfig:
    """Architecture: a U-Net over the aligned crop and its mask, `dims` channels per level
    (each level halves the side), `max_change` the largest correction per pixel (0..1)."""

    size: int = 128
    dims: tuple[int, ...] = (16, 32, 64, 64)
    max_change: float = 0.5

    def to_dict(self) -> dict:
        return {**asdict(self), "dims": list(self.dims)}


def _block(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=1), nn.LeakyReLU(0.2),
                         nn.Conv2d(outputs, outputs, 3, padding=1), nn.LeakyReLU(0.2))


class Refiner(nn.Module):
    """(face (N, 3, S, S), mask (N, 1, S, S)) -> refined face (N, 3, S, S), all in [0, 1]:
    face + mask x a bounded correction."""

    def __init__(self, config: RefinerConfig = RefinerConfig()):
        super().__init__()
        self.config = config
        dims = config.dims
        self.down = nn.ModuleList([_block(4, dims[0])] + [_block(a, b) for a, b in zip(dims, dims[1:])])
        self.up = nn.ModuleList([_block(b + a, a) for a, b in zip(dims[:-1], dims[1:])])
        self.out = nn.Conv2d(dims[0], 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # starts as the identity: the warp's own output
        nn.init.zeros_(self.out.bias)

    def forward(self, face: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = torch.cat([face, mask], 1)
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.avg_pool2d(x, 2))
            skips.append(x)
        for block, skip in zip(reversed(self.up), reversed(skips[:-1])):
            x = block(torch.cat([F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False), skip], 1))
        change = torch.tanh(self.out(x)) * self.config.max_change
        return (face + mask * change).clamp(0, 1)


def refiner_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, edge_weight: float) -> torch.Tensor:
    """L1 inside the drawn region plus L1 of the horizontal and vertical image gradients (a
    blurred repair loses its gradients, so blur costs twice)."""
    weight = mask / mask.mean((2, 3), keepdim=True).clamp_min(1e-3)
    loss = ((pred - target).abs() * weight).mean()
    for dim in (2, 3):
        loss = loss + edge_weight * ((pred.diff(dim=dim) - target.diff(dim=dim)).abs()
                                     * weight.narrow(dim, 0, weight.shape[dim] - 1)).mean()
    return loss


def _tensors(inputs, masks, targets, index) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    def image(array):
        return torch.from_numpy(array[index].transpose(0, 3, 1, 2).astype(np.float32) / 255)

    return image(inputs), torch.from_numpy(masks[index][:, None].astype(np.float32)), image(targets)


def make_pairs(library_folder: Path, run: Path, config: RefinerTrainConfig, size: int,
               on_progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
    """The run's self-reenactment examples, made once and kept in `run/pairs.npz`."""
    from avatar.render.exemplar import PresenterLibrary, reenactment_pairs

    path = Path(run) / "pairs.npz"
    if path.is_file():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    inputs, masks, targets = reenactment_pairs(PresenterLibrary.load(library_folder), config.pairs, size,
                                               config.seed, on_progress=on_progress)
    holdout = max(16, config.pairs // 20)  # the last few examples judge the run, never trained on
    data = {"inputs": inputs, "masks": masks.astype(np.float16), "targets": targets, "holdout": np.int64(holdout)}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **data)
    return data


def train_refiner(library_folder: Path, run: Path, config: RefinerTrainConfig = RefinerTrainConfig(),
                  model_config: RefinerConfig = RefinerConfig(), resume: bool = False,
                  on_step: Callable[[int, int, dict | None], None] | None = None) -> int:
    """Train the refiner of the library in `library_folder` into the run folder `run` until
    `config.steps` (or SIGTERM/SIGINT, after a checkpoint); returns the last step done."""
    run = Path(run)
    existing = list_checkpoints(run)
    if existing and not resume:
        raise UserError(f"{run} already holds checkpoints: pass --resume to continue it, or choose a new --run.")
    run.mkdir(parents=True, exist_ok=True)
    data = make_pairs(library_folder, run, config, model_config.size)
    train_count = len(data["inputs"]) - int(data["holdout"])
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = Refiner(model_config)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    step, elapsed = 0, 0.0
    if existing:
        state = load_checkpoint(existing[-1])
        if state["refiner_config"] != model_config.to_dict():
            raise UserError(f"{run} was trained with {state['refiner_config']}: resume with the same architecture.")
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        step, elapsed = state["step"], state["elapsed"]
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        truncate_stats(run / "stats.jsonl", step)

    def save() -> None:
        save_atomic({"model": model.state_dict(), "optimiser": optimiser.state_dict(), "step": step,
                     "elapsed": elapsed, "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                     "refiner_config": model_config.to_dict(), "train_config": asdict(config),
                     "library": str(Path(library_folder).resolve())}, checkpoint_path(run, step))
        prune(run, config.keep)

    held = _tensors(data["inputs"], data["masks"], data["targets"], np.arange(train_count, len(data["inputs"])))
    with StopRequest() as stop:
        while step < config.steps and not stop():
            began = time.perf_counter()
            index = rng.integers(0, train_count, config.batch)
            face, mask, target = _tensors(data["inputs"], data["masks"], data["targets"], index)
            if rng.random() < 0.5:  # his face mirrored is still his face
                face, mask, target = (t.flip(3) for t in (face, mask, target))
            loss = refiner_loss(model(face, mask), target, mask, config.edge_weight)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            step += 1
            elapsed += time.perf_counter() - began
            stats = None
            if step % 50 == 0 or step == config.steps:
                stats = {"step": step, "loss": round(loss.item(), 5), "seconds": round(elapsed, 1),
                         **holdout_error(model, *held)}
                append_stats(run / "stats.jsonl", stats)
            if step % config.checkpoint_every == 0 or step == config.steps:
                save()
            if on_step:
                on_step(step, config.steps, stats)
        if step % config.checkpoint_every and step < config.steps:  # stopped early: keep what was done
            save()
    return step


@torch.no_grad()
def holdout_error(model: Refiner, face: torch.Tensor, mask: torch.Tensor, target: torch.Tensor) -> dict:
    """Mean absolute error (0-255) inside the drawn region on held-out examples, without the
    refiner (the warp alone) and with it."""
    weight = mask / mask.sum()
    return {"holdout_warp": round(float(((face - target).abs().mean(1, keepdim=True) * weight).sum() * 255), 3),
            "holdout_refined": round(float(((model(face, mask) - target).abs().mean(1, keepdim=True)
                                            * weight).sum() * 255), 3)}


def export_refiner(checkpoint: Path, presenter_folder: Path, tolerance: float = 2e-3) -> dict:
    """Export a refiner checkpoint into the presenter folder as refiner.onnx, check it against
    torch on the run's held-out examples, and seal it into the presenter's integrity record.
    Nothing is written when the check fails."""
    state = load_checkpoint(checkpoint)
    config = RefinerConfig(**{**state["refiner_config"], "dims": tuple(state["refiner_config"]["dims"])})
    model = Refiner(config).eval()
    model.load_state_dict(state["model"])
    folder = Path(presenter_folder)
    open_presenter(folder)  # intact now: resealing must never bless a changed file
    data = make_pairs(Path(state["library"]), Path(checkpoint).parent.parent, RefinerTrainConfig(), config.size)
    index = np.arange(len(data["inputs"]) - int(data["holdout"]), len(data["inputs"]))[:16]
    face, mask, target = _tensors(data["inputs"], data["masks"], data["targets"], index)
    with atomic_path(folder / REFINER_FILE) as tmp:
        write_onnx(model, (face[:2], mask[:2]), tmp, ["face", "mask"], ["refined"], ["face", "mask", "refined"],
                   {"avatar.refiner_config": json.dumps(config.to_dict()), "avatar.step": str(state["step"]),
                    "avatar.layout": "NCHW float32 RGB in [0, 1]"})
        with torch.no_grad():
            expected = model(face, mask).numpy()
        worst = parity_error(tmp, {"face": face.numpy(), "mask": mask.numpy()}, ["refined"], [expected])
        if worst > tolerance:
            raise UserError(f"refiner export parity check failed: onnxruntime differs from torch by {worst:.4g} "
                            f"(tolerance {tolerance}); nothing was written.")
    write_record(folder)
    return {"step": state["step"], "parity_max_abs": worst, "bytes": (folder / REFINER_FILE).stat().st_size,
            **holdout_error(model, face, mask, target)}


def refine_presenter(presenter_folder: Path, run: Path, config: RefinerTrainConfig = RefinerTrainConfig(),
                     resume: bool = False, threads: int = 1,
                     on_step: Callable[[int, int, dict | None], None] | None = None) -> dict:
    """Train the refiner of the presenter in `presenter_folder` on his own library (`threads`
    CPU threads: one leaves the machine usable), then export it into the folder and seal it
    (`export_refiner`'s report). TrainingStopped when a signal stopped it first (resumable)."""
    torch.set_num_threads(threads)
    presenter = open_presenter(presenter_folder)
    if presenter.library is None:
        raise UserError(f"{presenter_folder} has no library: build one first with `avatar library build`.")
    done = train_refiner(presenter.library, run, config, resume=resume, on_step=on_step)
    if done < config.steps:
        raise TrainingStopped(run, done, config.steps)
    return export_refiner(list_checkpoints(run)[-1], presenter_folder)
