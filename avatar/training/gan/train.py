"""Training StyleGAN2 on one person's aligned faces: `avatar gan train`.

One loop for a CPU, one GPU (bf16) or several GPUs under `torchrun` (one process per GPU, each
drawing its own batch; gradients averaged by hand, rank 0 writes). Each step:
  1. generator: non-saturating loss softplus(-D(aug(G(z)))), with style mixing;
     every `pl_every` steps also path-length regularisation (when pl_weight > 0);
  2. discriminator: softplus(D(aug(G(z)))) + softplus(-D(aug(x))); every `r1_every` steps also
     the R1 penalty gamma/2 |grad_x D(aug(x))|^2 ("lazy": weighted up by the interval, the
     optimisers' lr and betas adjusted for it as in the paper);
  3. the generator's EMA copy (what snapshots and generation use) follows the weights;
  4. the augmentation probability follows the discriminator's overfitting (augment.py).
Run folder:
    checkpoints/step_XXXXXXXX.pt   full state (G, D, G_ema, optimisers, augment p, path-length
                                   mean, RNG of every process), written atomically, last `keep` kept
    stats.jsonl                    one line per `log_every` steps
    snapshots/step_XXXXXXXX.png    G_ema on fixed latents at every checkpoint; preview.png = latest
SIGTERM or Ctrl-C saves and returns; `resume=True` continues bit-exactly on the same machine.
"""

from __future__ import annotations

import copy
import math
import random
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from avatar.dataset import load_faces
from avatar.errors import UserError
from avatar.training.config import GanTrainConfig
from avatar.training.checkpoint import checkpoint_path, list_checkpoints, load_checkpoint, prune, save_atomic
from avatar.training.gan.augment import AdaptiveStrength, augment
from avatar.training.gan.networks import Discriminator, GanConfig, Generator
from avatar.training.runs import (StopRequest, append_stats, average_gradients, distributed, plain, train_to_end,
                                  truncate_stats, write_png)


def steps_for(config: GanTrainConfig, world: int = 1) -> int:
    """Optimiser steps in a run of `config.kimg` thousand real images."""
    return math.ceil(config.kimg * 1000 / (config.batch * world))


def load_images(folder: Path, size: int, max_images: int | None = None) -> torch.Tensor:
    """The aligned crops of an `avatar extract` folder as (N, 3, size, size) uint8 RGB."""
    crops = load_faces(Path(folder).name, folder, size, max_faces=max_images).crops
    if len(crops) < 2:
        raise UserError(f"{folder} holds {len(crops)} faces: a GAN needs hundreds (thousands are better).")
    return torch.from_numpy(np.ascontiguousarray(crops.transpose(0, 3, 1, 2)))


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 3, S, S) float in [-1, 1] -> (N, S, S, 3) uint8 RGB."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def _mixed_styles(generator: Generator, z: torch.Tensor, probability: float) -> torch.Tensor:
    """Styles with, for a share of the batch, the layers from a random cut-off on taken from a
    second latent (style mixing: keeps neighbouring layers' styles from depending on each other)."""
    ws = generator.styles(z, track=True)
    if probability <= 0:
        return ws
    num_ws = ws.shape[1]
    second = generator.styles(torch.randn_like(z))
    cutoff = torch.randint(1, num_ws, (len(z),), device=z.device)
    cutoff = torch.where(torch.rand(len(z), device=z.device) < probability, cutoff, torch.full_like(cutoff, num_ws))
    layer = torch.arange(num_ws, device=z.device)[None, :, None]
    return torch.where(layer < cutoff[:, None, None], ws, second)


def snapshot_grid(generator: Generator, latents: torch.Tensor, columns: int) -> np.ndarray:
    """G on fixed latents as one (rows*S, columns*S, 3) uint8 RGB image (const noise, psi 1)."""
    with torch.no_grad():
        images = to_uint8(generator(latents, noise="const"))
    rows = math.ceil(len(images) / columns)
    size = images.shape[1]
    grid = np.full((rows * size, columns * size, 3), 255, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        grid[r * size:(r + 1) * size, c * size:(c + 1) * size] = image
    return grid


def warm_start(source: Path, gan_config: GanConfig, generator: Generator, discriminator: Discriminator,
               generator_ema: Generator, strength: AdaptiveStrength) -> float:
    """Copy G, D and G_ema (and the augmentation strength) from a `gan.pt`, checkpoint or run
    folder into a new run; returns the kimg behind those weights (the source's own and its init's)."""
    from avatar.training.gan.export import checkpoint_of

    state = load_checkpoint(checkpoint_of(source))
    if "generator_ema" not in state or "discriminator" not in state:
        raise UserError(f"{source} holds no GAN generator and discriminator to start from.")
    if GanConfig(**state["gan_config"]) != gan_config:
        raise UserError(f"cannot start from {source}: it is a {GanConfig(**state['gan_config'])} GAN, this run is "
                        f"{gan_config}.")
    for module, key in ((generator, "generator"), (discriminator, "discriminator"), (generator_ema, "generator_ema")):
        module.load_state_dict({k: v.float() for k, v in state[key].items()})
    strength.p = float(state.get("augment", {}).get("p", strength.p))
    return float(state.get("init_kimg", 0.0)) + float(state["kimg"])


def train_run(data: Path, run: Path, gan_config: GanConfig, config: GanTrainConfig, consent: Path | None,
              resume: bool | None = None, init: Path | None = None,
              on_step: Callable[[int, int, dict | None], None] | None = None) -> int:
    """`train` to the end under a consent record (see `runs.train_to_end`: kept in the run, or
    the run's own when None; resumed when `resume` is None and the run has checkpoints, else
    warm-started from `init`). Returns the last step; TrainingStopped when a signal stopped it."""
    def run_training(resume: bool, init: Path | None) -> tuple[int, int]:
        return train(data, run, gan_config, config, resume=resume, init=init, on_step=on_step)

    return train_to_end(run, consent, run_training, resume, init)


def train(data: Path, run: Path, gan_config: GanConfig, config: GanTrainConfig = GanTrainConfig(),
          resume: bool = False, init: Path | None = None,
          on_step: Callable[[int, int, dict | None], None] | None = None) -> tuple[int, int]:
    """Train until `config.kimg` (or a signal); returns (last step done, the run's total steps).

    data: an `avatar extract` folder of one person's faces. init: warm-start weights (a shipped
    `gan.pt`, a checkpoint or a run folder) for a new run. on_step(step, total, stats_or_None)
    is called after every step (stats on logging steps).
    """
    run = Path(run)
    rank, world, device = distributed()
    existing = list_checkpoints(run)
    if existing and not resume:
        raise UserError(f"{run} already holds checkpoints: pass --resume auto to continue it, or choose a new --out.")
    state = load_checkpoint(existing[-1]) if existing else None
    if state is not None and GanConfig(**state["gan_config"]) != gan_config:
        raise UserError(f"{run} was trained as {GanConfig(**state['gan_config'])}, not {gan_config}: "
                        "resume with the same preset and size.")
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(config.seed + rank)
    random.seed(config.seed)
    rng = np.random.default_rng([config.seed, rank])
    reals = load_images(data, gan_config.size, config.max_images)
    total_steps = steps_for(config, world)
    checkpoint_every = max(1, round(config.checkpoint_kimg * 1000 / (config.batch * world)))

    generator, discriminator = Generator(gan_config).to(device), Discriminator(gan_config).to(device)
    generator_ema = copy.deepcopy(generator).eval().requires_grad_(False)
    optimisers = {}
    for name, module, every in (("g", generator, config.pl_every if config.pl_weight > 0 else 0),
                                ("d", discriminator, config.r1_every)):
        ratio = every / (every + 1) if every else 1.0  # lazy regularisation: keep the effective rate
        optimisers[name] = torch.optim.Adam(module.parameters(), lr=config.lr * ratio,
                                            betas=(0.0, 0.99 ** ratio), eps=1e-8)
    strength = AdaptiveStrength(config.augment_target, speed_kimg=config.augment_speed_kimg, p=config.augment_p)
    pl_mean = torch.zeros((), device=device)
    step, elapsed, init_kimg = 0, 0.0, 0.0
    if state is None and init is not None:
        init_kimg = warm_start(init, gan_config, generator, discriminator, generator_ema, strength)
    if state is not None:
        init_kimg = state.get("init_kimg", 0.0)
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        generator_ema.load_state_dict(state["generator_ema"])
        optimisers["g"].load_state_dict(state["optimiser_g"])
        optimisers["d"].load_state_dict(state["optimiser_d"])
        strength.load_state_dict(state["augment"])
        pl_mean = state["pl_mean"].to(device)
        step, elapsed = state["step"], state["elapsed"]
        if rank < len(state["rng"]):  # same world size as before: each process's streams continue
            rng.bit_generator.state = state["rng"][rank]["numpy"]
            torch.set_rng_state(state["rng"][rank]["torch"])
            if device.type == "cuda" and state["rng"][rank].get("cuda") is not None:
                torch.cuda.set_rng_state(state["rng"][rank]["cuda"])
        if rank == 0:
            truncate_stats(run / "stats.jsonl", step)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    latents = torch.randn(36, gan_config.z_dim,
                          generator=torch.Generator().manual_seed(config.seed)).to(device)

    def real_batch() -> torch.Tensor:
        picks = rng.integers(len(reals), size=config.batch)
        batch = reals[picks].to(device).float() / 127.5 - 1
        if config.mirror:
            flips = torch.from_numpy(rng.random(config.batch) < 0.5).to(device)
            batch = torch.where(flips[:, None, None, None], batch.flip(3), batch)
        return batch

    def seen_kimg(steps: int) -> float:
        return steps * config.batch * world / 1000

    def save() -> None:
        own = {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state(),
               "cuda": torch.cuda.get_rng_state() if device.type == "cuda" else None}
        rng_states = [own]
        if world > 1:
            rng_states = [None] * world
            torch.distributed.all_gather_object(rng_states, own)
        if rank != 0:
            return
        save_atomic({
            "generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
            "generator_ema": generator_ema.state_dict(), "optimiser_g": optimisers["g"].state_dict(),
            "optimiser_d": optimisers["d"].state_dict(), "augment": strength.state_dict(), "pl_mean": pl_mean,
            "step": step, "kimg": seen_kimg(step), "init_kimg": init_kimg, "elapsed": elapsed, "rng": rng_states,
            "gan_config": gan_config.to_dict(), "train_config": plain(asdict(config)),
            "data": {"folder": str(data), "images": len(reals)},
        }, checkpoint_path(run, step))
        prune(run, config.keep)
        grid = snapshot_grid(generator_ema, latents, columns=6)
        write_png(run / "snapshots" / f"step_{step:08d}.png", grid)
        write_png(run / "preview.png", grid)

    gamma = config.gamma(gan_config.size)
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}

    def log(name: str, value: torch.Tensor) -> None:
        totals[name] = totals.get(name, 0.0) + float(value.detach())
        counts[name] = counts.get(name, 0) + 1

    interval_start, interval_steps = time.perf_counter(), 0
    with StopRequest(world, device) as stopping:
        while step < total_steps and not stopping():
            started = time.perf_counter()
            p = strength.p if config.augment else 0.0

            # 1. generator
            discriminator.requires_grad_(False)
            with autocast:
                fakes = generator.synthesis(_mixed_styles(generator, torch.randn(config.batch, gan_config.z_dim,
                                                                                    device=device), config.style_mixing))
                loss_g = F.softplus(-discriminator(augment(fakes, p))).mean()
            optimisers["g"].zero_grad(set_to_none=True)
            loss_g.backward()
            log("loss_g", loss_g)
            if config.pl_weight > 0 and step % config.pl_every == 0:
                half = max(1, config.batch // 2)
                ws = generator.styles(torch.randn(half, gan_config.z_dim, device=device))
                images = generator.synthesis(ws)
                noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
                (grads,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
                lengths = grads.square().sum(2).mean(1).sqrt()
                pl_mean = pl_mean.lerp(lengths.mean().detach(), 0.01)
                loss_pl = (lengths - pl_mean).square().mean()
                (loss_pl * config.pl_weight * config.pl_every).backward()
                log("pl", loss_pl)
            average_gradients(generator, world)
            optimisers["g"].step()

            # 2. discriminator
            discriminator.requires_grad_(True)
            regularise = step % config.r1_every == 0
            reals_now = real_batch().requires_grad_(regularise)
            with autocast:
                with torch.no_grad():
                    fakes = generator.synthesis(_mixed_styles(generator, torch.randn(config.batch, gan_config.z_dim,
                                                                                        device=device), config.style_mixing))
                fake_logits = discriminator(augment(fakes, p))
                real_logits = discriminator(augment(reals_now, p))
                loss_d = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
            loss = loss_d
            if regularise:
                (grads,) = torch.autograd.grad(real_logits.float().sum(), reals_now, create_graph=True)
                r1 = grads.square().sum((1, 2, 3)).mean()
                loss = loss + r1 * (gamma / 2) * config.r1_every
                log("r1", r1)
            optimisers["d"].zero_grad(set_to_none=True)
            loss.backward()
            average_gradients(discriminator, world)
            optimisers["d"].step()
            log("loss_d", loss_d)
            log("real_score", real_logits.detach().float().mean())
            log("fake_score", fake_logits.detach().float().mean())

            # 3. EMA of the generator's weights
            ema_kimg = config.ema_kimg if config.ema_kimg is not None else config.batch * world * 10 / 32
            ema_kimg = min(ema_kimg, seen_kimg(step + 1) * config.ema_rampup) if config.ema_rampup else ema_kimg
            beta = 0.5 ** (config.batch * world / max(ema_kimg * 1000, 1e-8))
            with torch.no_grad():
                for ema_param, param in zip(generator_ema.parameters(), generator.parameters()):
                    ema_param.copy_(param.detach().lerp(ema_param, beta))
                for ema_buffer, buffer in zip(generator_ema.buffers(), generator.buffers()):
                    ema_buffer.copy_(buffer)

            # 4. augmentation strength, from every process's real scores
            if config.augment:
                strength.observe(real_logits)
                if world > 1:
                    both = torch.tensor([strength.sign_sum, float(strength.count)], device=device)
                    torch.distributed.all_reduce(both)
                    strength.sign_sum, strength.count = float(both[0]) / world, int(both[1]) // world
                strength.update(config.batch)

            step += 1
            interval_steps += 1
            elapsed += time.perf_counter() - started
            stats = None
            if step % config.log_every == 0 or step == total_steps:
                now = time.perf_counter()
                stats = {"step": step, "kimg": round(seen_kimg(step), 3), "total_kimg": round(init_kimg + seen_kimg(step), 3),
                         "elapsed_s": round(elapsed, 1),
                         **{name: round(totals[name] / counts[name], 5) for name in totals},
                         "augment_p": round(strength.p, 4), "rt": round(strength.last_rt, 3),
                         "s_per_kimg": round((now - interval_start) / max(seen_kimg(interval_steps), 1e-9), 1)}
                totals.clear()
                counts.clear()
                interval_start, interval_steps = now, 0
                if rank == 0:
                    append_stats(run / "stats.jsonl", stats)
            if step % checkpoint_every == 0 or step == total_steps:
                save()
            if on_step and rank == 0:
                on_step(step, total_steps, stats)
        if step < total_steps and step % checkpoint_every != 0:  # stopped by a signal
            save()
    return step, total_steps


