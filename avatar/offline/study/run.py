"""`avatar study run`: make the B sets, then train, export and measure every (B set, seed)
not measured yet, and the real baselines."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from avatar.offline.study.measure import baselines, load_reference, measure_model
from avatar.offline.study.report import collect
from avatar.offline.study.sets import B_SETS, StudyData, b_set, make_b_sets
from avatar.offline.study.training import StudyBudget, finished, model_name, train_and_export, train_base
from avatar.paths import atomic_write


def run_study(data: StudyData, out: Path, budget: StudyBudget, only: tuple[str, ...] = (),
              seeds: tuple[int, ...] | None = None, on_stage: Callable[[str], None] = print,
              on_step: Callable | None = None) -> dict:
    """Make the B sets, train, export and measure every (B set, seed) not measured yet; returns
    the results gathered so far (`collect`)."""
    out = Path(out)
    make_b_sets(out / "sets", data, on_stage)
    atomic_write(out / "budget.json", json.dumps(asdict(budget), indent=1) + "\n")
    reference = None
    if budget.base_steps > 0 and not finished(out / "runs" / "base", budget.base_steps):
        on_stage("training the shared base (driver faces on both sides)")
    base = train_base(data.driver, out / "runs" / "base", budget, data.consent, on_step)
    for b in [b_set(name) for name in only] or B_SETS:
        for seed in seeds if seeds is not None else budget.seeds:
            name = model_name(b, seed)
            result_path = out / "results" / f"{name}.json"
            if result_path.is_file():
                continue
            on_stage(f"training {name}")
            train_and_export(data.driver, out / "sets" / b.name, out / "runs" / name, out / "models" / name, budget,
                             seed, data.consent, base, on_step)
            on_stage(f"measuring {name}")
            if reference is None:
                reference = load_reference(data.presenter_heldout, data.driver_heldout, budget.size,
                                           budget.driver_frames)
            result = {"b_set": b.name, "seed": seed, "steps": budget.steps, "base_steps": budget.base_steps,
                      "size": budget.size,
                      **measure_model(out / "models" / name, reference)}
            result_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(result_path, json.dumps(result, indent=1) + "\n")
    if not (out / "results" / "baselines.json").is_file():
        on_stage("measuring the real baselines")
        reference = reference or load_reference(data.presenter_heldout, data.driver_heldout, budget.size,
                                                budget.driver_frames)
        atomic_write(out / "results" / "baselines.json",
                     json.dumps(baselines(data.same_person, reference), indent=1) + "\n")
    return collect(out)
