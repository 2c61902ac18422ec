"""What every training loop here shares: processes under torchrun, stopping on a signal, the
run folder's stats file and PNGs. Used by the swap autoencoder and the GAN."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from avatar.errors import UserError
from avatar.paths import atomic_write
from avatar.provenance import keep_consent
from avatar.training.checkpoint import list_checkpoints


def distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    rank = int(os.environ.get("RANK", "0"))
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


def leave_process_group() -> None:
    """Under torchrun: wait until every process has left its loop (rank 0 writes the last preview
    and checkpoint), then close the group. A process that exits while its peer still holds the
    connection makes gloo abort it (SIGABRT), failing a run that trained to the end."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


class StopRequest:
    """While entered, SIGTERM and Ctrl-C set a flag instead of killing the process, so a loop can
    finish its step, save a checkpoint and return. Calling it asks whether any process got one
    (all processes then stop after the same step, none is left waiting in a collective)."""

    def __init__(self, world: int = 1, device: torch.device | None = None):
        self.world, self.device, self.signal, self._previous = world, device, None, {}

    def __enter__(self) -> StopRequest:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._request)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _request(self, signum, _frame) -> None:
        self.signal = signum

    def __call__(self) -> bool:
        wanted = self.signal is not None
        if self.world > 1:
            flag = torch.tensor([float(wanted)], device=self.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            wanted = bool(flag.item())
        return wanted


def average_gradients(module: torch.nn.Module, world: int) -> None:
    """Mean of each parameter's gradient over all processes (for modules not wrapped in DDP)."""
    if world <= 1:
        return
    for parameter in module.parameters():
        if parameter.grad is not None:
            torch.distributed.all_reduce(parameter.grad)
            parameter.grad /= world


def append_stats(path: Path, stats: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(stats) + "\n")


def truncate_stats(path: Path, step: int) -> None:
    """Drop stats lines logged after the checkpoint a run resumes from (they will be redone)."""
    if path.exists():
        lines = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
        atomic_write(path, "".join(line + "\n" for line in lines))


def plain(value):
    """Config dicts as JSON-able plain values (for weights_only checkpoints)."""
    return json.loads(json.dumps(value))


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 RGB image atomically."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data.tobytes())


class TrainingStopped(UserError):
    """A run stopped (by a signal) before its last step: resumable, and never to be exported."""

    def __init__(self, run: Path, last: int, total: int):
        super().__init__(f"{run}: training stopped at step {last} of {total}; run it again to resume.")
        self.run, self.last, self.total = Path(run), last, total


def train_to_end(run: Path, consent: Path | None, train: Callable[[bool, Path | None], tuple[int, int]],
                 resume: bool | None = None, init: Path | None = None) -> int:
    """Keep the consent record `consent` in `run` (None: the run must already hold one), then
    `train(resume, init)` -> (last step, total steps): resuming the run's newest checkpoint
    (`resume` None: whenever it has one, and then without `init`) or warm-starting from `init`.
    Returns the last step; TrainingStopped when the run stopped short of its total."""
    run = Path(run)
    if consent is not None:
        keep_consent(consent, run)
    elif not (run / "consent.json").is_file():
        raise UserError(f"{run} has no consent.json: training needs a consent record: pass --consent FILE (JSON "
                        "with person, source, date, scope, basis; see README), the record of the agreement of the "
                        "person whose faces it learns.")
    if resume is None:
        resume = bool(list_checkpoints(run))
        init = None if resume else init
    last, total = train(resume, init)
    leave_process_group()
    if last < total:
        raise TrainingStopped(run, last, total)
    return last
