"""The study's report (`avatar study report`): each B set's own Table 2 figures, the results
table over seeds, and the figures (training faces per B set, renders per model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from avatar.dataset import MANIFEST, load_faces
from avatar.offline.study.sets import B_SETS
from avatar.offline.study.training import model_name
from avatar.paths import atomic_write


def measure_b_sets(out: Path, real: Path, on_stage: Callable[[str], None] = print) -> None:
    """The study's Table 2 figures of every B set against 1,000 of the presenter's real training
    frames, at the study's side (the real set is read once for all six)."""
    from avatar.offline.evaluate import evaluate_synthetic

    reals = real_features = None
    size = json.loads((Path(out) / "budget.json").read_text())["size"]
    for b in B_SETS:
        path = Path(out) / "sets" / f"{b.name}.json"
        if path.is_file() or not (Path(out) / "sets" / b.name / MANIFEST).is_file():
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
        if not (folder / MANIFEST).is_file():
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
