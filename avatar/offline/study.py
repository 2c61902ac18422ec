"""The study's experiment: swap models that differ only in side B (`avatar study run`, docs/study.md).

Every model is trained with the same driver faces (A), architecture, steps and seed; only the
presenter's training set (B) changes: GAN-synthesised faces chosen for varied expressions, for
monotone ones, or not chosen at all, and real frames spread evenly or chosen the same two ways.

Each model is then measured on held-out driver frames through the network alone (the
compositing that follows is the same for every model, so it cannot separate them):
- identity: share of outputs face_recognition matches to the held-out real presenter;
- mouth r and eye r: Pearson r between the driver's and the output's mouth and eye opening;
- inner-face KID (x 1e3) against held-out real presenter frames, beside the floor (the same man
  in another video) and a different real person, measured in the same run;
- sharpness (brows to mouth) and eye opening relative to the held-out real presenter;
- flicker of the output face between consecutive frames, beside the driver's own;
- B->B: inner-face KID of the held-out presenter faces re-drawn by the network.

Run layout under OUT: `sets/<b set>` (the B datasets), `runs/<b set>-s<seed>` (training),
`models/<b set>-s<seed>` (exported ONNX), `results/<b set>-s<seed>.json`, `sets/<b set>.json`
(the B set's own Table 2 figures). Every step is skipped when its output exists, so an
interrupted study resumes where it stopped.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from avatar.errors import UserError
from avatar.offline.swap_evaluate import Faces, image_measures, load_faces, reference_from_dataset
from avatar.metrics.expression import pearson
from avatar.metrics.identity import IdentityReference
from avatar.metrics.image import face_flicker
from avatar.metrics.inception import inception_features
from avatar.metrics.realism import core_sharpness, inner_face, kid
from avatar.paths import atomic_write
from avatar.vision import eye_opening, hull_mask, mouth_opening


@dataclass(frozen=True)
class BSet:
    """One side-B training set: `kind` gan (from a generator's candidates) or real (from the
    presenter's training frames), chosen by `selection` (varied, monotone, random, even)."""

    name: str
    kind: str
    selection: str
    size: int
    label: str


B_SETS = (
    BSet("gan-varied", "gan", "varied", 1000, "GAN, varied selection"),
    BSet("gan-monotone", "gan", "monotone", 1000, "GAN, monotone selection"),
    BSet("gan-random", "gan", "random", 1000, "GAN, no selection"),
    BSet("real-even", "real", "even", 1000, "real frames, evenly spread"),
    BSet("real-varied", "real", "varied", 100, "real frames, varied selection"),
    BSet("real-monotone", "real", "monotone", 100, "real frames, monotone selection"),
)


@dataclass(frozen=True)
class StudyBudget:
    """How much each model gets: side in px, optimiser steps (batch 16 a side), seeds, and the
    held-out driver frames measured."""

    size: int
    steps: int
    seeds: tuple[int, ...]
    driver_frames: int = 400
    # Steps of the shared base every model starts from: both decoders trained on the driver's
    # faces alone, so the base can draw a face but has never seen the presenter (0: no base).
    base_steps: int = 0


# cpu-*: 64 px, the GAN's own resolution, so that synthetic and real sets are compared at the
# side the generator actually draws (at 128 px a synthetic set would lose on resolution alone).
# From nothing, 2,000 steps at 64 px still give a blurred ghost of a face (found by dlib in half
# the frames), which cannot separate the B sets: the CPU budgets start every model from a base
# pretrained on the driver alone, as DeepFaceLab users start from a pretrained model.
STUDY_BUDGETS = {
    "cpu-short": StudyBudget(64, 1000, (0, 1), 300, base_steps=2000),
    "cpu-long": StudyBudget(64, 6000, (0, 1, 2), 400, base_steps=10000),
    "gpu": StudyBudget(128, 20000, (0, 1, 2), 800, base_steps=20000),
}


def b_set(name: str) -> BSet:
    for candidate in B_SETS:
        if candidate.name == name:
            return candidate
    raise UserError(f"unknown B set {name!r}: choose from {', '.join(s.name for s in B_SETS)}")


def model_name(b: BSet, seed: int) -> str:
    return f"{b.name}-s{seed}"


@dataclass
class Reference:
    """What every model is measured against, loaded once: held-out real presenter faces, their
    identity and image measures, and the driver's held-out faces (consecutive frames)."""

    presenter: Faces
    identity: IdentityReference
    features: np.ndarray  # inner-face Inception features of `presenter`
    measures: dict[str, float]
    driver: Faces
    driver_masks: np.ndarray


def load_reference(presenter_heldout: Path, driver_heldout: Path, size: int, driver_frames: int) -> Reference:
    """Held-out real presenter faces (all of them) and the first `driver_frames` held-out driver
    faces, at `size` px."""
    presenter = load_faces("held-out presenter", presenter_heldout, size)
    records = load_faces("held-out driver", driver_heldout, size)
    keep = min(driver_frames, len(records))
    driver = Faces(records.name, records.crops[:keep], records.landmarks[:keep], records.frame_landmarks[:keep],
                   records.frames[:keep])
    masks = np.stack([hull_mask(points, size, size, erode=max(1, size // 40)) for points in driver.landmarks])
    return Reference(presenter, reference_from_dataset("presenter", presenter_heldout),
                     _inner_features(presenter.crops, presenter.landmarks), image_measures(presenter), driver, masks)


def _inner_features(crops: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(N, 2048) Inception features of the inner faces (brows to chin, background blanked)."""
    return inception_features(np.stack([inner_face(c, p) for c, p in zip(crops, landmarks)]))


def _inner_kid(crops: np.ndarray, landmarks: np.ndarray, reference: Reference) -> float:
    return 1e3 * kid(_inner_features(crops, landmarks), reference.features)


def measure_faces(crops: np.ndarray, reference: Reference) -> dict:
    """Measures of network outputs `crops` ((N, S, S, 3) uint8 RGB, one per held-out driver
    face, in order) against `reference` (see the module docstring)."""
    from avatar.offline.generate import MATCH, check_face

    driver = reference.driver
    checks = [check_face(crop, reference.identity) for crop in crops]
    found = [i for i, c in enumerate(checks) if c.landmarks is not None]
    mouth_driver = [mouth_opening(driver.landmarks[i]) for i in found]
    mouth_out = [mouth_opening(checks[i].landmarks) for i in found]
    eyes_driver = [eye_opening(driver.landmarks[i]) for i in found]
    eyes_out = [eye_opening(checks[i].landmarks) for i in found]
    # Sharpness, eyes and KID read the output where the driver's face is: the output is drawn
    # in the driver's crop frame, and the same regions for every model keep them comparable.
    sharpness = np.mean([core_sharpness(c, p) for c, p in zip(crops, driver.landmarks)])
    n = len(crops)
    return {
        "faces": n,
        "found": round(len(found) / n, 4),
        "identity": round(sum(c.verdict == MATCH for c in checks) / n, 4),
        "mouth_r": round(pearson(mouth_driver, mouth_out), 4) if len(found) > 2 else None,
        "eye_r": round(pearson(eyes_driver, eyes_out), 4) if len(found) > 2 else None,
        "eye_opening": round(float(np.mean(eyes_out)) / reference.measures["eye_opening"], 3) if found else None,
        "kid_inner": round(_inner_kid(crops, driver.landmarks, reference), 2),
        "sharpness": round(float(sharpness) / reference.measures["sharpness"], 3),
        "flicker": round(face_flicker(list(crops), list(reference.driver_masks)), 4),
    }


def measure_model(model_path: Path, reference: Reference) -> dict:
    """Run the exported model on the held-out driver faces and measure its outputs, plus B->B."""
    from avatar.inference import load_swap_model

    model = load_swap_model(Path(model_path) / "model.onnx")
    driver = reference.driver
    outputs, _ = model.run(driver.crops, driver.landmarks)
    result = measure_faces(outputs, reference)
    redrawn, _ = model.run(reference.presenter.crops, reference.presenter.landmarks)
    result["kid_inner_b_to_b"] = round(_inner_kid(redrawn, reference.presenter.landmarks, reference), 2)
    return result


def baselines(same_person: Path, reference: Reference) -> dict:
    """The real rows measured the same way: the presenter in another video (the floor of inner
    KID) and the driver's own faces (a different real man; his mouth r and eye r, measured
    against themselves, are the ceiling of what landmark re-detection allows)."""
    size = reference.presenter.crops.shape[1]
    floor = load_faces("same person", same_person, size, max_faces=len(reference.driver))
    return {
        "floor": {"kid_inner": round(_inner_kid(floor.crops, floor.landmarks, reference), 2),
                  "sharpness": round(np.mean([core_sharpness(c, p) for c, p in zip(floor.crops, floor.landmarks)])
                                     / reference.measures["sharpness"], 3)},
        "driver": measure_faces(reference.driver.crops, reference),
    }


def make_b_sets(sets: Path, data: StudyData, on_stage: Callable[[str], None],
                on_progress: Callable[[int, int], None] | None = None) -> None:
    """Write every B set into `sets/<name>`: real ones selected from the presenter's training
    frames, GAN ones taken from the generated set of their selection (generated first, from
    3 x its size candidates of `data.generator`, when it is missing)."""
    from avatar.dataset import read_manifest, write_subset
    from avatar.offline.generate import generate_from, select_real

    for b in B_SETS:
        target = sets / b.name
        if (target / "manifest.jsonl").is_file():
            continue
        on_stage(f"B set {b.name}")
        if b.kind == "real":
            select_real(data.presenter, target, min(b.size, len(read_manifest(data.presenter))), b.selection)
            continue
        source = Path(data.synthetic[b.selection])
        if not (source / "manifest.jsonl").is_file():
            if data.generator is None:
                raise UserError(f"no generated {b.selection} set for {b.name} and no generator to make one: run "
                                f"`avatar gan generate --select {b.selection} --out {source}` first.")
            on_stage(f"generating the {b.selection} set")
            shutil.rmtree(source, ignore_errors=True)
            generate_from(data.generator, source, b.size, b.selection, seeds=list(range(3 * b.size)),
                          reference=data.presenter, on_progress=on_progress)
        records = read_manifest(source)
        if len(records) < b.size:
            raise UserError(f"{source} holds {len(records)} faces, {b.name} needs {b.size}.")
        write_subset(source, target, records[:b.size], {"selection": b.selection, "from": str(source)})


def _train(a: Path, b: Path, run: Path, size: int, steps: int, seed: int, init: Path | None,
           on_step: Callable | None) -> None:
    """Train the `fast` landmark preset at `size` px to `steps` (resuming a stopped run)."""
    from dataclasses import replace

    from avatar.training.checkpoint import list_checkpoints
    from avatar.training.model import preset
    from avatar.training.train import TrainConfig, train

    resume = bool(list_checkpoints(run))
    last = train(a, b, run, replace(preset("fast", size), landmarks=True),
                 TrainConfig(steps=steps, seed=seed, preview_every=500, checkpoint_every=250),
                 resume=resume, init=None if resume else init, on_step=on_step)
    if last < steps:
        raise UserError(f"{run} stopped at step {last} of {steps}; run again to resume.")


def _finished(run: Path, steps: int) -> bool:
    from avatar.training.checkpoint import checkpoint_path

    return checkpoint_path(run, steps).is_file()  # the last checkpoint is never pruned


def train_base(driver: Path, run: Path, budget: StudyBudget, on_step: Callable | None = None) -> Path | None:
    """The shared base (both sides: the driver's faces), trained once; None without one."""
    if budget.base_steps <= 0:
        return None
    _train(driver, driver, run, budget.size, budget.base_steps, 0, None, on_step)
    return run


def train_and_export(a: Path, b: Path, run: Path, model: Path, budget: StudyBudget, seed: int,
                     consent: Path, base: Path | None = None, on_step: Callable | None = None) -> None:
    """Train one study model from `base` (or from nothing) and export it; resumes a stopped run."""
    from avatar.provenance import keep_consent
    from avatar.training.checkpoint import list_checkpoints
    from avatar.training.export import export

    if (model / "model.onnx").is_file():
        return
    keep_consent(consent, run)
    _train(a, b, run, budget.size, budget.steps, seed, base, on_step)
    parity = load_faces("parity", a, budget.size, max_faces=8)
    export(list_checkpoints(run)[-1], model, parity.crops, parity_landmarks=parity.landmarks, presenter_faces=0)


@dataclass(frozen=True)
class StudyData:
    """The extract folders and generated sets a study reads."""

    driver: Path  # side A: driver training faces
    driver_heldout: Path  # driver frames never trained on (consecutive)
    presenter: Path  # the presenter's training frames (the real pool)
    presenter_heldout: Path  # the presenter's frames never trained on
    same_person: Path  # the presenter in another video (the floor)
    synthetic: dict  # selection -> `avatar gan generate` dataset (made from `generator` when missing)
    consent: Path
    generator: Path | None = None  # a folder holding generator.onnx (the recipe's gan-model)

    @classmethod
    def from_folder(cls, folder: Path, consent: Path) -> StudyData:
        """The layout `avatar recipe` writes: driver, driver-heldout, presenter, presenter-heldout,
        presenter-cap12 and synthetic-<selection> side by side in `folder`."""
        folder = Path(folder)
        data = cls(folder / "driver", folder / "driver-heldout", folder / "presenter", folder / "presenter-heldout",
                   folder / "presenter-cap12",
                   {how: folder / f"synthetic-{how}" for how in ("varied", "monotone", "random")}, Path(consent),
                   folder.parent / "gan-model" if (folder.parent / "gan-model" / "generator.onnx").is_file() else None)
        for path in (data.driver, data.driver_heldout, data.presenter, data.presenter_heldout, data.same_person):
            if not (path / "manifest.jsonl").is_file():
                raise UserError(f"{path} is missing: run `avatar recipe default --out ...` (its data step) first.")
        if not data.consent.is_file():
            raise UserError(f"{data.consent} is missing: the presenter's consent record is needed to train.")
        return data


def run_study(data: StudyData, out: Path, budget: StudyBudget, only: tuple[str, ...] = (),
              seeds: tuple[int, ...] | None = None, on_stage: Callable[[str], None] = print,
              on_step: Callable | None = None) -> dict:
    """Make the B sets, train, export and measure every (B set, seed) not measured yet; returns
    the results gathered so far (`collect`)."""
    out = Path(out)
    make_b_sets(out / "sets", data, on_stage)
    atomic_write(out / "budget.json", json.dumps(asdict(budget), indent=1) + "\n")
    reference = None
    if budget.base_steps > 0 and not _finished(out / "runs" / "base", budget.base_steps):
        on_stage("training the shared base (driver faces on both sides)")
    base = train_base(data.driver, out / "runs" / "base", budget, on_step)
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


def measure_b_sets(out: Path, real: Path, on_stage: Callable[[str], None] = print) -> None:
    """The study's Table 2 figures of every B set against 1,000 of the presenter's real training
    frames, at the study's side (the real set is read once for all six)."""
    from avatar.offline.evaluate import evaluate_synthetic

    reals = real_features = None
    size = json.loads((Path(out) / "budget.json").read_text())["size"]
    for b in B_SETS:
        path = Path(out) / "sets" / f"{b.name}.json"
        if path.is_file() or not (Path(out) / "sets" / b.name / "manifest.jsonl").is_file():
            continue
        on_stage(f"Table 2 of {b.name}")
        result = evaluate_synthetic(real, Path(out) / "sets" / b.name, size, max_real=1000, reals=reals,
                                    real_features=real_features)
        reals, real_features = result.pop("_reals"), result.pop("_real_features")
        result.pop("_distances")
        atomic_write(path, json.dumps(result, indent=1, default=float) + "\n")


def collect(out: Path) -> dict:
    """Every measured model, grouped by B set, with the baselines and B-set figures."""
    out = Path(out)
    models: dict[str, list[dict]] = {}
    for path in sorted((out / "results").glob("*-s*.json")):
        result = json.loads(path.read_text())
        models.setdefault(result["b_set"], []).append(result)
    sets = {b.name: json.loads((out / "sets" / f"{b.name}.json").read_text())
            for b in B_SETS if (out / "sets" / f"{b.name}.json").is_file()}
    base = out / "results" / "baselines.json"
    return {"models": models, "sets": sets, "baselines": json.loads(base.read_text()) if base.is_file() else None,
            "budget": json.loads((out / "budget.json").read_text()) if (out / "budget.json").is_file() else None}


MEASURES = (("identity", "identity", "{:.0%}"), ("mouth_r", "mouth r", "{:.2f}"), ("eye_r", "eye r", "{:.2f}"),
            ("kid_inner", "inner KID", "{:.1f}"), ("kid_inner_b_to_b", "B->B inner KID", "{:.1f}"),
            ("sharpness", "sharpness", "{:.2f}"), ("eye_opening", "eye opening", "{:.2f}"),
            ("flicker", "flicker", "{:.4f}"))


def _cell(values: list, fmt: str) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return ""
    if len(values) == 1:
        return fmt.format(values[0])
    # np.std: the population spread, i.e. half the difference when there are two seeds
    return f"{fmt.format(float(np.mean(values)))} ± {fmt.format(float(np.std(values)))}"


def results_table(results: dict) -> str:
    """The experiment's table in Markdown: one row per B set (mean ± spread over seeds), then
    the real baselines measured the same way."""
    lines = ["| B set | faces | seeds | " + " | ".join(label for _, label, _ in MEASURES) + " |",
             "|---|---|---|" + "---|" * len(MEASURES)]
    for b in B_SETS:
        rows = results["models"].get(b.name)
        if not rows:
            continue
        faces = results["sets"].get(b.name, {}).get("synthetic", {}).get("faces", b.size)
        cells = [_cell([r.get(key) for r in rows], fmt) for key, _, fmt in MEASURES]
        lines.append(f"| {b.label} | {faces:,} | {len(rows)} | " + " | ".join(cells) + " |")
    base = results.get("baselines")
    if base:
        driver = base["driver"]
        lines.append("| *real: the driver himself (a different person)* | | | "
                     + " | ".join(_cell([driver.get(key)], fmt) if key in ("identity", "kid_inner", "sharpness",
                                                                             "eye_opening", "flicker") else ""
                                  for key, _, fmt in MEASURES) + " |")
        lines.append("| *real: the presenter in another video (floor)* | | | | | | "
                     f"{base['floor']['kid_inner']:.1f} | | {base['floor']['sharpness']:.2f} | | |")
    return "\n".join(lines)


def b_set_table(results: dict) -> str:
    """Each B set's own Table 2 figures (against the presenter's real training frames)."""
    lines = ["| B set | faces | FID | KID x 1e3 | matching / not / not a face | pairwise mean | pairwise variance |",
             "|---|---|---|---|---|---|---|"]
    for b in B_SETS:
        figures = results["sets"].get(b.name)
        if not figures:
            continue
        m, v = figures["matching"], figures["variability"]
        lines.append(f"| {b.label} | {figures['synthetic']['faces']:,} | {figures['fid']:.1f} | "
                     f"{figures['kid_x1e3']:.1f} | {m['match']} / {m['no match']} / {m['not a face']} | "
                     f"{v['mean']:.4f} | {v['variance']:.2e} |")
    return "\n".join(lines)


def samples_figure(out: Path, path: Path, per_row: int = 10, side: int = 64) -> None:
    """A JPEG grid: one row of evenly spread training faces per B set."""
    from avatar.dataset import read_manifest

    rows = []
    for b in B_SETS:
        folder = Path(out) / "sets" / b.name
        if not (folder / "manifest.jsonl").is_file():
            continue
        faces = [cv2.resize(cv2.imread(str(folder / r["crop"])), (side, side), interpolation=cv2.INTER_AREA)
                 for r in read_manifest(folder, per_row)]
        rows.append(_label(np.hstack(faces), b.label))
    width = max(row.shape[1] for row in rows)  # a set smaller than per_row leaves white on its right
    rows = [np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=255) for row in rows]
    cv2.imwrite(str(path), np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 90])


def renders_figure(out: Path, driver_heldout: Path, path: Path, seed: int = 0, columns: int = 8) -> None:
    """A JPEG grid: the same held-out driver faces (top row) drawn by each B set's model."""
    from avatar.inference import load_swap_model

    budget = json.loads((Path(out) / "budget.json").read_text())
    size = budget["size"]
    faces = load_faces("driver", driver_heldout, size, max_faces=columns)
    rows = [_label(np.hstack([cv2.cvtColor(c, cv2.COLOR_RGB2BGR) for c in faces.crops]), "driver (held out)")]
    for b in B_SETS:
        folder = Path(out) / "models" / model_name(b, seed)
        if not (folder / "model.onnx").is_file():
            continue
        drawn, _ = load_swap_model(folder / "model.onnx").run(faces.crops, faces.landmarks)
        rows.append(_label(np.hstack([cv2.cvtColor(c, cv2.COLOR_RGB2BGR) for c in drawn]), b.label))
    scale = max(1, 128 // size)
    grid = np.vstack(rows)
    cv2.imwrite(str(path), cv2.resize(grid, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST),
                [cv2.IMWRITE_JPEG_QUALITY, 90])


def _label(row: np.ndarray, text: str, width: int = 260) -> np.ndarray:
    """`row` (BGR) with a white panel on its left holding `text`."""
    panel = np.full((row.shape[0], width, 3), 255, np.uint8)
    cv2.putText(panel, text, (6, row.shape[0] // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return np.hstack([panel, row])
