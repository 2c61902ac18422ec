"""Training the swap autoencoder: `avatar swap train`.

One loop for a CPU, one GPU or several GPUs under `torchrun` (DDP, one process per GPU; rank 0
writes). Run folder layout:
    checkpoints/step_XXXXXXXX.pt   full state, written atomically, the last `keep` kept
    stats.jsonl                    one line per `log_every` steps
    preview.png                    columns A, A->A, A->B, B, B->B for fixed faces
    loss.png                       loss curves
SIGTERM or Ctrl-C saves a checkpoint and returns; `resume=True` continues exactly where the
last checkpoint left off (model, optimiser, step, data and augmentation RNG).
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from avatar.errors import UserError
from avatar.training.checkpoint import checkpoint_path, list_checkpoints, load_checkpoint, prune, save_atomic
from avatar.training.config import TrainConfig
from avatar.training.data import TrainingFaces, augment, load_faceset
from avatar.training.critic import PatchDiscriminator, critic_loss, generator_loss, inner_face
from avatar.training.losses import dssim
from avatar.training.runs import (StopRequest, append_stats, average_gradients, distributed, plain, train_to_end,
                                  truncate_stats, write_png)
from avatar.training.model import SwapAutoencoder, SwapConfig
from avatar.training.model import preset as make_preset


class _Pair(nn.Module):
    """Both reconstructions in one forward pass (one DDP forward per backward); with `swapped`
    also A->B, the driver's faces drawn as the presenter (for the critic), else None."""

    def __init__(self, model: SwapAutoencoder, swapped: bool = False):
        super().__init__()
        self.model, self.swapped = model, swapped

    def forward(self, faces_a, faces_b, landmarks_a, landmarks_b):
        code = self.model.bottleneck(self.model.encoder(torch.cat([faces_a, faces_b])))
        code_a, code_b = code.split([len(faces_a), len(faces_b)])
        a_to_b = self.model.decoder_b(code_a, landmarks_a)[0] if self.swapped else None
        return (*self.model.decoder_a(code_a, landmarks_a), *self.model.decoder_b(code_b, landmarks_b), a_to_b)


def reconstruction_loss(pred, target, mask, detail, detail_weight: float) -> torch.Tensor:
    """10 x (DSSIM + L1) inside the face mask, plus eye/mouth-weighted L1. NCHW in [0, 1]."""
    pred_m, target_m = pred * mask, target * mask
    loss = 10 * dssim(pred_m, target_m) + 10 * (pred_m - target_m).abs().mean()
    return loss + 10 * detail_weight * ((pred - target).abs() * detail).mean()


def _to_tensors(arrays, device):
    return [torch.from_numpy(a).to(device, non_blocking=True) for a in arrays]


def train(a_dir: Path, b_dir: Path, run: Path, swap_config: SwapConfig, config: TrainConfig = TrainConfig(),
          resume: bool = False, init: Path | None = None,
          on_step: Callable[[int, int, dict | None], None] | None = None) -> int:
    """Train until `config.steps` (or a signal); returns the last step done.

    a_dir: driver faces (any person), b_dir: presenter faces, both `avatar extract` folders.
    on_step(step, total, stats_or_None) is called after every step (stats on logging steps).
    """
    run = Path(run)
    rank, world, device = distributed()
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
    existing = list_checkpoints(run)
    state = None
    if existing and not resume:
        raise UserError(f"{run} already holds checkpoints: pass --resume auto to continue it, or choose a new --out.")
    if existing:
        state = load_checkpoint(existing[-1])
        saved = SwapConfig(**state["swap_config"])
        if saved != swap_config:
            raise UserError(f"{run} was trained with {saved}, not {swap_config}: resume with the same preset and size.")

    torch.manual_seed(config.seed)
    random.seed(config.seed)
    rng = np.random.default_rng([config.seed, rank])
    faces_a = load_faceset(a_dir, swap_config.size, config.max_faces)
    faces_b = load_faceset(b_dir, swap_config.size, config.max_faces)

    model = SwapAutoencoder(swap_config).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.5, 0.999))
    critic = critic_optimiser = None
    if config.gan_weight > 0:
        critic = PatchDiscriminator(config.gan_dims).to(device)
        critic_optimiser = torch.optim.Adam(critic.parameters(), lr=config.lr, betas=(0.5, 0.999))
    step, elapsed, init_steps = 0, 0.0, 0
    if state is not None:
        init_steps = state.get("init_steps", 0)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        if critic is not None and "critic" in state:  # else the critic starts fresh on a resumed run
            critic.load_state_dict(state["critic"])
            critic_optimiser.load_state_dict(state["critic_optimiser"])
        step, elapsed = state["step"], state["elapsed"]
        if rank < len(state["rng"]):  # same world size as before: each rank's stream continues
            rng.bit_generator.state = state["rng"][rank]
        torch.set_rng_state(state["torch_rng"])
        if rank == 0:
            truncate_stats(run / "stats.jsonl", step)
    elif init is not None:
        init_steps = warm_start(model, init)

    pair = _Pair(model, swapped=critic is not None and config.gan_swapped)
    if world > 1:
        pair = nn.parallel.DistributedDataParallel(pair, device_ids=[device.index] if device.type == "cuda" else None)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()

    def save():
        rng_states = [rng.bit_generator.state]
        if world > 1:  # every rank takes part in the gather; only rank 0 writes
            rng_states = [None] * world
            torch.distributed.all_gather_object(rng_states, rng.bit_generator.state)
        if rank != 0:
            return
        extra = {} if critic is None else {"critic": critic.state_dict(),
                                           "critic_optimiser": critic_optimiser.state_dict()}
        save_atomic({
            **extra, "model": model.state_dict(), "optimiser": optimiser.state_dict(), "step": step,
            "init_steps": init_steps,
            "elapsed": elapsed, "rng": rng_states, "torch_rng": torch.get_rng_state(),
            "swap_config": swap_config.to_dict(), "train_config": plain(asdict(config)),
            "data": {"a": str(faces_a.folder), "b": str(faces_b.folder), "a_faces": len(faces_a), "b_faces": len(faces_b)},
        }, checkpoint_path(run, step))
        prune(run, config.keep)

    totals = np.zeros(6)
    logged_steps, interval_start = 0, time.perf_counter()
    with StopRequest(world, device) as stopping:
        while step < config.steps and not stopping():
            started = time.perf_counter()
            batch_a = _to_tensors(augment(faces_a, rng.integers(len(faces_a), size=config.batch), rng, config.augment), device)
            batch_b = _to_tensors(augment(faces_b, rng.integers(len(faces_b), size=config.batch), rng, config.augment), device)
            (in_a, target_a, mask_a, detail_a, points_a), (in_b, target_b, mask_b, detail_b, points_b) = batch_a, batch_b
            with autocast:
                rgb_a, mask_pred_a, rgb_b, mask_pred_b, a_to_b = pair(in_a, in_b, points_a, points_b)
                loss_a = reconstruction_loss(rgb_a.float(), target_a, mask_a, detail_a, config.detail_weight)
                loss_b = reconstruction_loss(rgb_b.float(), target_b, mask_b, detail_b, config.detail_weight)
                loss_mask = 10 * (F.mse_loss(mask_pred_a.float(), mask_a) + F.mse_loss(mask_pred_b.float(), mask_b))
                loss = loss_a + loss_b + config.mask_weight * loss_mask
                loss_gan = loss_critic = torch.zeros(())
                if critic is not None:
                    fakes = inner_face((rgb_b if a_to_b is None else torch.cat([rgb_b, a_to_b])).float())
                    loss_gan = generator_loss(critic(fakes))
                    loss = loss + config.gan_weight * loss_gan
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            if critic is not None:
                with autocast:
                    loss_critic = critic_loss(critic(inner_face(target_b)), critic(fakes.detach()))
                critic_optimiser.zero_grad(set_to_none=True)
                loss_critic.backward()
                average_gradients(critic, world)  # the critic is not wrapped in DDP
                critic_optimiser.step()
            step += 1
            elapsed += time.perf_counter() - started
            totals += [loss.item(), loss_a.item(), loss_b.item(), loss_mask.item(), loss_gan.item(), loss_critic.item()]
            logged_steps += 1

            stats = None
            if step % config.log_every == 0 or step == config.steps:
                now = time.perf_counter()
                mean = totals / logged_steps
                stats = {"step": step, "elapsed_s": round(elapsed, 1), "loss": round(mean[0], 5),
                         "loss_a": round(mean[1], 5), "loss_b": round(mean[2], 5), "loss_mask": round(mean[3], 5),
                         **({"loss_gan": round(mean[4], 5), "loss_critic": round(mean[5], 5)} if critic else {}),
                         "steps_per_s": round(logged_steps / (now - interval_start), 3),
                         "faces_seen": step * config.batch * 2 * world}
                totals[:], logged_steps, interval_start = 0, 0, now
                if rank == 0:
                    append_stats(run / "stats.jsonl", stats)
            if rank == 0 and (step % config.preview_every == 0 or step == config.steps):
                write_preview(model, faces_a, faces_b, run / "preview.png", device)
                plot_losses(run / "stats.jsonl", run / "loss.png")
            if step % config.checkpoint_every == 0 or step == config.steps:
                save()
            if on_step and rank == 0:
                on_step(step, config.steps, stats)
        if step < config.steps and step % config.checkpoint_every != 0:  # stopped by a signal
            save()
    return step


def _warm_start_state(source: Path) -> tuple[Path, dict]:
    """The checkpoint behind a warm-start source: a checkpoint, a run folder (its newest
    checkpoint) or a shipped model folder (`models/NAME`, its weights.pt)."""
    source = Path(source)
    if source.is_dir():
        found = list_checkpoints(source)
        source = found[-1] if found else source / "weights.pt"
    return source, load_checkpoint(source)


def train_run(a_dir: Path, b_dir: Path, run: Path, swap_config: SwapConfig, config: TrainConfig,
              consent: Path | None, resume: bool | None = None, init: Path | None = None,
              on_step: Callable[[int, int, dict | None], None] | None = None) -> int:
    """`train` to the end under a consent record (see `runs.train_to_end`: kept in the run;
    resumed when `resume` is None and the run has checkpoints, else warm-started from `init`).
    Returns the last step; TrainingStopped when a signal stopped it first."""
    def run_training(resume: bool, init: Path | None) -> tuple[int, int]:
        return train(a_dir, b_dir, run, swap_config, config, resume=resume, init=init, on_step=on_step), config.steps

    return train_to_end(run, consent, run_training, resume, init)


def warm_start_config(source: Path) -> SwapConfig:
    """The architecture of a warm-start source (see `warm_start`)."""
    return SwapConfig(**_warm_start_state(source)[1]["swap_config"])


def architecture_for(preset: str | None, size: int | None, landmarks: bool, init: Path | None) -> SwapConfig:
    """The swap model a run trains: adapting a model (`init` with no preset or size asked) keeps
    its architecture; otherwise the preset (default "fast") at `size` px (default 128)."""
    if init is not None and preset is None and size is None:
        return warm_start_config(init)
    return dataclasses.replace(make_preset(preset or "fast", size or 128), landmarks=landmarks)


def warm_start(model: SwapAutoencoder, source: Path) -> int:
    """Copy weights from a checkpoint, a run folder (its newest checkpoint) or a shipped model
    folder (`models/NAME`, its weights.pt). Returns the steps behind those weights (the source's
    own plus those it was warm-started from), so a chain of runs can be plotted by total steps."""
    source, state = _warm_start_state(source)
    saved = SwapConfig(**state["swap_config"])
    if saved != model.config:
        raise UserError(f"cannot start from {source}: it is a {saved} model, this run is {model.config}.")
    model.load_state_dict({k: v.float() for k, v in state["model"].items()})
    return int(state.get("init_steps", 0)) + int(state.get("step", 0))


@torch.no_grad()
def write_preview(model: SwapAutoencoder, faces_a: TrainingFaces, faces_b: TrainingFaces, path: Path, device,
                  rows: int = 4) -> None:
    """PNG grid, one row per sample: A, A->A, A->B, B, B->B (fixed, evenly spaced faces)."""
    model.eval()
    pick_a = np.linspace(0, len(faces_a) - 1, rows).round().astype(int)
    pick_b = np.linspace(0, len(faces_b) - 1, rows).round().astype(int)
    a = torch.from_numpy(faces_a.images[pick_a]).permute(0, 3, 1, 2).float().div(255).to(device)
    b = torch.from_numpy(faces_b.images[pick_b]).permute(0, 3, 1, 2).float().div(255).to(device)
    points_a = torch.from_numpy(faces_a.landmarks[pick_a]).to(device)
    points_b = torch.from_numpy(faces_b.landmarks[pick_b]).to(device)
    columns = [a, model(a, "a", points_a)[0], model(a, "b", points_a)[0], b, model(b, "b", points_b)[0]]
    model.train()
    grid = torch.cat([torch.cat(list(col), 1) for col in columns], 2)  # (3, rows*S, 5*S)
    image = (grid.clamp(0, 1) * 255).byte().permute(1, 2, 0).cpu().numpy()
    header = np.full((24, image.shape[1], 3), 255, np.uint8)
    size = a.shape[-1]
    for i, label in enumerate(["A", "A->A", "A->B", "B", "B->B"]):
        cv2.putText(header, label, (i * size + 4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    write_png(path, np.vstack([header, image]))


def plot_losses(stats_path: Path, path: Path, width: int = 640, height: int = 320) -> None:
    """Loss curves (log scale) from stats.jsonl as a PNG, drawn with OpenCV."""
    rows = [json.loads(line) for line in Path(stats_path).read_text().splitlines()] if Path(stats_path).exists() else []
    canvas = np.full((height, width, 3), 255, np.uint8)
    if len(rows) >= 2:
        steps = np.array([r["step"] for r in rows], float)
        series = {"loss_a": (200, 80, 0), "loss_b": (0, 120, 220), "loss_mask": (120, 120, 120)}
        values = np.log10(np.maximum([[r[k] for k in series] for r in rows], 1e-6))
        lo, hi = values.min(), values.max() + 1e-9
        margin = 40
        x = margin + (steps - steps[0]) / max(steps[-1] - steps[0], 1) * (width - 2 * margin)
        for j, (name, colour) in enumerate(series.items()):
            y = height - margin - (values[:, j] - lo) / (hi - lo) * (height - 2 * margin)
            cv2.polylines(canvas, [np.stack([x, y], 1).round().astype(np.int32)], False, colour, 1, cv2.LINE_AA)
            cv2.putText(canvas, name, (margin + 110 * j, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
        cv2.rectangle(canvas, (margin, margin), (width - margin, height - margin), (0, 0, 0), 1)
        cv2.putText(canvas, f"{10 ** hi:.3g}", (2, margin + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1)
        cv2.putText(canvas, f"{10 ** lo:.3g}", (2, height - margin), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1)
        cv2.putText(canvas, f"step {int(steps[-1])}", (width - 120, height - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 0), 1)
    write_png(path, canvas)
