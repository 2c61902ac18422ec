"""A trained GAN run -> `generator.onnx`: the EMA generator (mapping + synthesis, truncation,
fixed noise) as one ONNX graph that onnxruntime runs like the swap model.

Interface: inputs `z` (N, z_dim) float32 latents and `psi` (1,) float32 truncation (1 = none,
0.7 the usual); output `image` (N, 3, S, S) float32 RGB in [0, 1]. Opset 17, dynamic batch,
one file; metadata `avatar.gan_config` (architecture JSON), `avatar.gan_step`, `avatar.gan_kimg`
and `avatar.gan_data` (the training folder, for identity checks). The graph is checked against
torch on fixed latents and refused above tolerance.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from avatar.errors import UserError
from avatar.paths import atomic_path
from avatar.training.checkpoint import list_checkpoints, load_checkpoint, save_atomic
from avatar.training.gan.networks import GanConfig, Generator
from avatar.training.onnx_file import parity_error, write_onnx

GENERATOR = "generator.onnx"


@dataclass(frozen=True)
class GeneratorExport:
    path: Path
    step: int
    kimg: float
    parity_max_abs: float
    size_bytes: int


WEIGHTS = "gan.pt"


def checkpoint_of(source: Path) -> Path:
    """A checkpoint file, a run folder's newest checkpoint, or a shipped folder's gan.pt."""
    source = Path(source)
    if source.is_dir() and (source / WEIGHTS).is_file() and not (source / "checkpoints").is_dir():
        return source / WEIGHTS
    if source.is_dir():
        found = list_checkpoints(source)
        if not found:
            raise UserError(f"{source} holds no GAN checkpoints (checkpoints/step_*.pt): train it first.")
        return found[-1]
    return source


def consent_of(source: Path) -> Path:
    """Where the consent record of a GAN lives: beside a shipped gan.pt or generator.onnx, or in
    the run folder of a checkpoint (also for a run's own export/ folder)."""
    source = Path(source)
    folder = source if source.is_dir() else source.parent
    if folder.name in ("checkpoints", "export"):
        folder = folder.parent
    return folder / "consent.json"


def load_generator(source: Path) -> tuple[Generator, dict]:
    """The EMA generator of a run folder or checkpoint (eval mode, float32) and the checkpoint."""
    state = load_checkpoint(checkpoint_of(source))
    if "generator_ema" not in state:
        raise UserError(f"{source} is not a GAN checkpoint (made by `avatar gan train`).")
    generator = Generator(GanConfig(**state["gan_config"]))
    generator.load_state_dict({k: v.float() for k, v in state["generator_ema"].items()})
    return generator.eval().requires_grad_(False), state


class _Generate(nn.Module):
    """(z, psi) -> image in [0, 1], fixed noise: what generation needs, as one graph."""

    def __init__(self, generator: Generator):
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        mapping = self.generator.mapping
        w = mapping(z)
        w = mapping.w_avg + (w - mapping.w_avg) * psi
        ws = w[:, None].expand(-1, self.generator.config.num_ws, -1)
        return ((self.generator.synthesis(ws, noise="const") + 1) / 2).clamp(0, 1)


def export_generator(source: Path, path: Path, tolerance: float = 1e-3) -> GeneratorExport:
    """Write the generator of `source` (run folder or checkpoint) to `path` (an .onnx file)."""
    generator, state = load_generator(source)
    config = generator.config
    wrapper = _Generate(generator).eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    z = torch.from_numpy(np.random.default_rng(0).standard_normal((8, config.z_dim)).astype(np.float32))
    psi = torch.tensor([0.7])
    with atomic_path(path) as tmp:
        write_onnx(wrapper, (z[:2], psi), tmp, ["z", "psi"], ["image"], ["z", "image"],
                   {"avatar.gan_config": json.dumps(config.to_dict()), "avatar.gan_step": str(state["step"]),
                    "avatar.gan_kimg": str(state.get("init_kimg", 0.0) + state["kimg"]),
                    "avatar.gan_data": str(state.get("data", {}).get("folder", ""))}, check=False)
        with torch.no_grad():
            want = wrapper(z, psi).numpy()
        difference = parity_error(tmp, {"z": z.numpy(), "psi": psi.numpy()}, ["image"], [want])
        if difference > tolerance:
            raise UserError(f"the exported generator differs from torch by {difference:.2e} (> {tolerance:g}); "
                            "nothing was written.")
    return GeneratorExport(path, int(state["step"]), float(state.get("init_kimg", 0.0) + state["kimg"]), difference,
                           path.stat().st_size)


def save_weights(source: Path, path: Path) -> int:
    """The weights a later run warm-starts from (`avatar gan train --init`): G, D and G_ema as
    float16, the architecture, the kimg behind them and the augmentation strength; no optimiser
    state (about a sixth of a checkpoint). Returns the file's size in bytes."""
    state = load_checkpoint(checkpoint_of(source))
    half = {key: {k: v.half() if v.is_floating_point() else v for k, v in state[key].items()}
            for key in ("generator", "discriminator", "generator_ema")}
    save_atomic({**half, "gan_config": state["gan_config"], "step": state["step"], "kimg": state["kimg"],
                 "init_kimg": state.get("init_kimg", 0.0), "augment": {"p": state["augment"]["p"]},
                 "data": state.get("data", {})}, Path(path))
    return Path(path).stat().st_size


@dataclass(frozen=True)
class GanExport:
    """What `export_gan` wrote: the generator (its parity report) and gan.pt's size in bytes."""

    generator: GeneratorExport
    weights_bytes: int


def export_gan(source: Path, out: Path) -> GanExport:
    """`avatar gan export`: the run `source` (a run folder's newest checkpoint, or a checkpoint)
    as `out/generator.onnx` (checked against torch), `out/gan.pt` (the warm-start weights) and
    the consent record it was trained under. Refused when the run has no consent record."""
    consent, out = consent_of(source), Path(out)
    if not consent.is_file():
        raise UserError(f"{consent.parent} has no consent.json: a generator of a person's face is only exported "
                        "with the consent record it was trained under (avatar gan train --consent).")
    generator = export_generator(source, out / GENERATOR)
    shutil.copyfile(consent, out / "consent.json")
    return GanExport(generator, save_weights(source, out / WEIGHTS))


def generator_file_of(source: Path, on_export=lambda message: None) -> Path:
    """The generator.onnx for a run folder or checkpoint (exported on first use, again when the
    run has a newer checkpoint, into RUN/export/), or for a folder/file that already is one."""
    source = Path(source)
    if source.is_file() and source.suffix == ".onnx":
        return source
    if source.is_dir() and (source / GENERATOR).is_file() and not (source / "checkpoints").is_dir():
        return source / GENERATOR
    checkpoint = checkpoint_of(source)
    target = checkpoint.parent.parent / "export" / f"{checkpoint.stem}-{GENERATOR}"
    if not target.is_file():
        report = export_generator(checkpoint, target)
        on_export(f"exported {checkpoint.name} to {target} (parity {report.parity_max_abs:.1e})")
    return target
