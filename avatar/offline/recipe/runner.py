"""Running a recipe's steps: each skipped when current, redone when its inputs change, resumed
when it was interrupted.

A step is current when its stamp (OUT/steps/NAME.json, or OUT/steps/<presenter>/NAME.json for
a step made per presenter) holds the same key: a hash of the step's parameters and the keys of
the steps before it, so changing a parameter redoes the step and everything after it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Protocol

from avatar.errors import UserError
from avatar.paths import atomic_write


class Workplace(Protocol):
    """Where a recipe's steps write: OUT (shared by every presenter made there) and the name of
    the presenter being made (its own stamps go under OUT/steps/<name>)."""

    out: Path
    name: str


@dataclass(frozen=True)
class Step:
    """`run` makes `outputs` (folders, relative to OUT; emptied when the step starts with other
    parameters than last time, kept to resume when it starts again with the same). `shared`
    steps make what every presenter in OUT uses; the others are per presenter (`--name`)."""

    name: str
    params: dict
    run: Callable[[Any, "Reporter"], dict | None]
    outputs: tuple[str, ...] = ()
    shared: bool = True


@dataclass
class Reporter:
    """Where a step says what it is doing: `stage(text)` and `progress(done, total)`."""

    stage: Callable[[str], None] = lambda text: None
    progress: Callable[[int, int], None] = lambda done, total: None


def stamp_path(place: Workplace, step: Step, suffix: str = ".json") -> Path:
    folder = place.out / "steps" if step.shared else place.out / "steps" / place.name
    return folder / f"{step.name}{suffix}"


def read_stamp(place: Workplace, step: Step) -> dict | None:
    path = stamp_path(place, step)
    return json.loads(path.read_text()) if path.is_file() else None


def step_keys(steps: list[Step]) -> dict[str, str]:
    """Each step's key: its parameters chained with every earlier step's key."""
    keys, previous = {}, ""
    for step in steps:
        payload = json.dumps({"step": step.name, "params": step.params, "after": previous}, sort_keys=True, default=str)
        previous = keys[step.name] = hashlib.sha256(payload.encode()).hexdigest()[:16]
    return keys


def run_steps(place: Workplace, steps: list[Step], redo: tuple[str, ...] = (), reporter: Reporter = Reporter(),
              on_step: Callable[[str, str], None] = lambda name, state: None) -> dict[str, dict]:
    """Run every step that is not current (or is named in `redo`: started afresh, and the steps
    after it redone); `on_step(name, "skip" | "run" | "done")`. Returns each step's stamp."""
    known = [step.name for step in steps]
    for name in redo:
        if name not in known:
            raise UserError(f"unknown step {name!r}: the steps are {', '.join(known)}")
    keys, stale = step_keys(steps), False
    for step in steps:
        stamp = read_stamp(place, step)
        stale = stale or step.name in redo or stamp is None or stamp["key"] != keys[step.name]
        if not stale:
            on_step(step.name, "skip")
            continue
        on_step(step.name, "run")
        began = stamp_path(place, step, ".started")
        if step.name in redo or (began.is_file() and began.read_text().strip() != keys[step.name]):
            for output in step.outputs:  # redone, or made with other parameters: start again, do not resume
                shutil.rmtree(place.out / output, ignore_errors=True)
        began.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(began, keys[step.name] + "\n")
        started = time.monotonic()
        summary = step.run(place, reporter)
        stamp = {"key": keys[step.name], "seconds": round(time.monotonic() - started, 1),
                 "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "summary": summary}
        atomic_write(stamp_path(place, step), json.dumps(stamp, indent=1, default=str) + "\n")
        on_step(step.name, "done")
    return {step.name: read_stamp(place, step) for step in steps}
