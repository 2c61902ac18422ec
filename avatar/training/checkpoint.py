"""The one checkpoint format and loader: atomic writes, last-K retention, safe loading.

A checkpoint is a dict of tensors and plain Python values only (loadable with
`torch.load(weights_only=True)`): model and optimiser state, step, RNG states, configs.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch

from avatar.errors import UserError
from avatar.paths import atomic_path

_NAME = re.compile(r"step_(\d+)\.pt$")


def save_atomic(state: dict, path: Path) -> None:
    """Write `state` to `path` via a temp file, fsync and rename: a crash leaves the old file or
    the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def checkpoint_path(run: Path, step: int) -> Path:
    return Path(run) / "checkpoints" / f"step_{step:08d}.pt"


def list_checkpoints(run: Path) -> list[Path]:
    """Checkpoints of a run folder, oldest first."""
    folder = Path(run) / "checkpoints"
    found = [p for p in folder.glob("step_*.pt") if _NAME.search(p.name)] if folder.is_dir() else []
    return sorted(found, key=lambda p: int(_NAME.search(p.name).group(1)))


def prune(run: Path, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints."""
    for old in list_checkpoints(run)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint safely: tensors and plain values only, never arbitrary pickled code.

    Raises UserError for a missing, truncated or unsafe file.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} was not found.")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise UserError(f"refusing to load {path.name}: it holds pickled objects other than tensors and "
                        f"plain values, which could run code ({str(error).splitlines()[0][:160]}).") from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise UserError(f"{path.name} is not a readable checkpoint (truncated or corrupt: "
                        f"{str(error).splitlines()[0][:160]}).") from None
