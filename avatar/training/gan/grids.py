"""Inspection grids of a trained generator: truncation and style mixing (`avatar gan grids`).

- truncation: one row per seed, one column per psi (0 = the average face, 1 = no truncation), so
  one sees how far from the mean the GAN's faces can go before they break.
- style mixing: the top row and left column are faces from two lists of seeds; each cell takes
  the layers up to `cutoff` (coarse: pose, face shape, expression) from its row's face and the
  rest (fine: colour, skin, lighting) from its column's face.
Images are (H, W, 3) uint8 RGB; const noise, so a grid is reproducible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from avatar.errors import UserError
from avatar.training.gan.export import load_generator
from avatar.training.gan.networks import Generator
from avatar.training.runs import write_png
from avatar.training.gan.train import to_uint8


def _latents(generator: Generator, seeds: list[int]) -> torch.Tensor:
    z = np.stack([np.random.RandomState(seed).randn(generator.config.z_dim) for seed in seeds])
    return torch.from_numpy(z.astype(np.float32))


def _tile(rows: list[list[np.ndarray | None]]) -> np.ndarray:
    """Rows of (S, S, 3) images (None = white) as one image."""
    size = next(image for row in rows for image in row if image is not None).shape[0]
    blank = np.full((size, size, 3), 255, np.uint8)
    return np.concatenate([np.concatenate([blank if im is None else im for im in row], 1) for row in rows], 0)


@torch.no_grad()
def truncation_grid(generator: Generator, seeds: list[int], psis: tuple[float, ...] = (0.0, 0.25, 0.5, 0.7, 0.85, 1.0)
                    ) -> np.ndarray:
    z = _latents(generator, seeds)
    columns = [to_uint8(generator(z, psi=psi, noise="const")) for psi in psis]
    return _tile([[column[i] for column in columns] for i in range(len(seeds))])


@torch.no_grad()
def style_mixing_grid(generator: Generator, row_seeds: list[int], column_seeds: list[int], cutoff: int | None = None,
                      psi: float = 0.7) -> np.ndarray:
    """Cells: row face's styles for layers < cutoff (default: the layers up to 16 px), column face's after."""
    cutoff = cutoff if cutoff is not None else min(generator.config.num_ws, 6)
    row_ws = generator.styles(_latents(generator, row_seeds), psi)
    column_ws = generator.styles(_latents(generator, column_seeds), psi)
    row_images = to_uint8(generator.synthesis(row_ws, noise="const"))
    column_images = to_uint8(generator.synthesis(column_ws, noise="const"))
    grid = [[None, *column_images]]
    for i, row_image in enumerate(row_images):
        mixed = column_ws.clone()
        mixed[:, :cutoff] = row_ws[i, :cutoff]
        grid.append([row_image, *to_uint8(generator.synthesis(mixed, noise="const"))])
    return _tile(grid)


def write_grids(source: Path, out: Path, seeds: list[int]) -> list[Path]:
    """truncation.png and style-mixing.png (rows: the first half of `seeds`, columns: the rest)
    of the generator in `source` (a run folder, checkpoint or folder holding gan.pt), in `out`."""
    if len(seeds) < 2:
        raise UserError("--seeds needs at least two seeds.")
    generator, _ = load_generator(source)
    half = len(seeds) // 2
    paths = [Path(out) / "truncation.png", Path(out) / "style-mixing.png"]
    write_png(paths[0], truncation_grid(generator, seeds))
    write_png(paths[1], style_mixing_grid(generator, seeds[:half], seeds[half:]))
    return paths
