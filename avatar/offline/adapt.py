"""The steps of adapting a presenter to a new driver face (avatar.adaptation), each run in a
child process so that the app never imports torch:

    python -m avatar.offline.adapt '{"step": "extract", "videos": [...], "out": ..., "size": 128, "every": 2}'
    python -m avatar.offline.adapt '{"step": "train", "faces": ..., "base": ..., "run": ..., "steps": 1000,
                                     "checkpoint_every": 100}'
    python -m avatar.offline.adapt '{"step": "export", "run": ..., "out": ...}'

A step that fails prints one line `error: ...` last and exits non-zero (3: training was stopped
before its last step, so nothing may be exported).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from avatar.errors import UserError
from avatar.presenter import CONSENT_FILE, PRESENTER_FACES


def extract_faces(videos: list[str], out: str, size: int, every: int) -> None:
    """The driver's faces of the recorded `videos`, every `every`th frame, at `size` px into `out`."""
    from avatar.config import ExtractConfig
    from avatar.offline.extract import extract

    extract([Path(video) for video in videos], Path(out), ExtractConfig(size=size, every=every))


def train_adapted(faces: str, base: str, run: str, steps: int, checkpoint_every: int) -> int:
    """Train the model folder `base` on the driver `faces` (side A) and its own presenter faces
    (side B) to `steps`: warm-started from its weights, or resumed from the run's checkpoints.
    The run keeps the base model's consent record. Returns the last step."""
    from avatar.training.config import TrainConfig
    from avatar.training.train import train_run, warm_start_config

    base_model = Path(base)
    config = TrainConfig(steps=steps, checkpoint_every=checkpoint_every, preview_every=checkpoint_every)
    return train_run(Path(faces), base_model / PRESENTER_FACES, Path(run), warm_start_config(base_model), config,
                     base_model / CONSENT_FILE, init=base_model)


def export_adapted(run: str, out: str) -> None:
    """The run's newest checkpoint as the model folder `out` (see `export_run`)."""
    from avatar.training.export import export_run

    export_run(Path(run), Path(out))


STEPS = {"extract": extract_faces, "train": train_adapted, "export": export_adapted}


def main(argv: list[str]) -> int:
    """Run the JSON job `argv[1]` ({"step": NAME, **its arguments}); returns the exit status."""
    from avatar.training.runs import TrainingStopped

    job = json.loads(argv[1])
    try:
        STEPS[job.pop("step")](**job)
    except TrainingStopped as stopped:
        print(f"error: {stopped}", file=sys.stderr)
        return 3
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
