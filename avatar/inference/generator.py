"""The exported face generator (`generator.onnx`, written by `avatar gan export`) at run time.

Contract: inputs `z` (N, z_dim) float32 and `psi` (1,) float32; output `image` (N, 3, S, S)
float32 RGB in [0, 1]. Latents come from seeds as in StyleGAN's tools: seed s gives
`np.random.RandomState(s).randn(z_dim)`, so a seed names the same face in every tool.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from avatar.errors import UserError
from avatar.inference.session import create_session, read_model_file

INPUTS = ("z", "psi")
OUTPUT = "image"


@dataclass
class GeneratorModel:
    path: Path
    session: ort.InferenceSession
    size: int
    z_dim: int
    metadata: dict
    providers: list[str]
    max_batch: int = 32

    def generate(self, z: np.ndarray, psi: float = 1.0) -> np.ndarray:
        """(N, z_dim) latents -> (N, S, S, 3) uint8 RGB faces."""
        z = np.asarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"expected (N, {self.z_dim}) latents, got {z.shape}")
        out = []
        for start in range(0, len(z), self.max_batch):
            feeds = {"z": np.ascontiguousarray(z[start:start + self.max_batch]), "psi": np.array([psi], np.float32)}
            images = self.session.run([OUTPUT], feeds)[0]
            out.append((images.transpose(0, 2, 3, 1) * 255 + 0.5).clip(0, 255).astype(np.uint8))
        return np.concatenate(out) if out else np.zeros((0, self.size, self.size, 3), np.uint8)


def latents_for_seeds(seeds: list[int], z_dim: int) -> np.ndarray:
    """(len(seeds), z_dim) float32: one standard normal latent per seed."""
    return np.stack([np.random.RandomState(seed).randn(z_dim) for seed in seeds]).astype(np.float32)


def load_generator_model(path: Path, prefer: str = "auto", threads: int | None = None) -> GeneratorModel:
    model = read_model_file(path)
    names, outputs = [i.name for i in model.graph.input], [o.name for o in model.graph.output]
    if tuple(names) != INPUTS or outputs != [OUTPUT]:
        raise UserError(f"{Path(path).name} is not a face generator (inputs {names}, outputs {outputs}; expected "
                        f"{list(INPUTS)} -> [{OUTPUT!r}]).")
    session, used = create_session(model.SerializeToString(), Path(path).name, prefer, threads)
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    config = json.loads(metadata.get("avatar.gan_config", "{}"))
    z_dim = int(session.get_inputs()[0].shape[1])
    return GeneratorModel(Path(path), session, int(config.get("size", 0)), z_dim, metadata, used)
