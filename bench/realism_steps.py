"""Quality vs training steps: the raw network's realism at every checkpoint of training runs;
prints JSON and draws a curve.

    python bench/realism_steps.py RUN [RUN ...] [--model models/presenter-interim ...] \
        [--data ~/.cache/avatar/data] [--png docs/realism-steps.png]

For each checkpoint (and each --model's weights.pt) the network re-draws, straight from torch,
the held-out presenter faces (B->B) and held-out driver faces as the presenter (A->B, the path
every answer takes, before compositing), and both are compared on the inner face with the real
held-out presenter faces: KID x 1e3, core sharpness and eye brightness relative to him. This is
the cheap proxy to follow a training run with (about a minute a checkpoint); `bench/realism.py`
judges the rendered answers. Results are cached in RUN/realism-steps.jsonl, so re-running after
more checkpoints appear measures only the new ones (runs keep their last few checkpoints only).

Data (made by `avatar extract` at 128 px, see README): `presenter-heldout` (cap13, judged from
frame 612 on), `presenter-cap12` (the floor: the same man in another video), `driver-heldout`
(franck.mp4 frames 4000-4399, `--start 4000 --max-frames 400`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import torch

from avatar.dataset import FaceSet, load_faces
from avatar.offline.realism import image_measures, realism_features
from avatar.metrics.realism import kid
from avatar.training.checkpoint import list_checkpoints, load_checkpoint
from avatar.training.model import SwapAutoencoder, SwapConfig


def redraw(state: dict, faces: FaceSet, side: str) -> FaceSet:
    """`faces` re-drawn by the checkpoint's decoder B (side "a": driver faces, A->B)."""
    model = SwapAutoencoder(SwapConfig(**state["swap_config"]))
    model.load_state_dict({k: v.float() for k, v in state["model"].items()})
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(faces), 32):
            x = torch.from_numpy(faces.crops[i:i + 32]).permute(0, 3, 1, 2).float() / 255
            points = torch.from_numpy(faces.landmarks[i:i + 32]).float()
            rgb, _ = model(x, "b", points if model.config.landmarks else None)
            out.append((rgb.clamp(0, 1) * 255 + 0.5).byte().permute(0, 2, 3, 1).numpy())
    return FaceSet(f"{side}->b", np.concatenate(out), faces.landmarks, faces.frame_landmarks, faces.frames)


def measure(state: dict, reference: FaceSet, driver: FaceSet, floor: float, offset: int = 0) -> dict:
    """One checkpoint's row; "step" counts every step behind its weights: its own, the warm
    starts' its checkpoint records (`init_steps`), and `offset` for older links of the chain that
    were not recorded."""
    ref_features, ref_measures = realism_features(reference), image_measures(reference)
    behind = int(state.get("init_steps", 0)) + offset
    row = {"step": behind + int(state["step"]), "run_step": int(state["step"]),
           "floor_kid_inner": round(floor * 1e3, 2)}
    for name, faces in (("b_to_b", redraw(state, reference, "b")), ("a_to_b", redraw(state, driver, "a"))):
        own = image_measures(faces)
        row[f"{name}_kid_inner"] = round(kid(realism_features(faces)["inner"], ref_features["inner"]) * 1e3, 2)
        row[f"{name}_sharpness"] = round(own["sharpness"] / ref_measures["sharpness"], 3)
        row[f"{name}_eye_brightness"] = round(own["eye_brightness"] / ref_measures["eye_brightness"], 3)
    return row


def plot(series: dict[str, list[dict]], path: Path, width: int = 720, height: int = 360) -> None:
    """Inner KID x 1e3 (log scale) against steps: A->B solid, B->B dashed, floor grey."""
    canvas = np.full((height, width, 3), 255, np.uint8)
    rows = [r for runs in series.values() for r in runs]
    if not rows:
        return
    margin = 50
    steps = [r["step"] for r in rows]
    values = [r[k] for r in rows for k in ("a_to_b_kid_inner", "b_to_b_kid_inner", "floor_kid_inner")]
    lo, hi = np.log10(max(min(values), 1)), np.log10(max(values)) + 1e-6
    s0, s1 = min(steps), max(max(steps), min(steps) + 1)

    def xy(step, value):
        x = margin + (step - s0) / (s1 - s0) * (width - 2 * margin)
        y = height - margin - (np.log10(max(value, 1)) - lo) / (hi - lo) * (height - 2 * margin)
        return int(round(x)), int(round(y))

    colours = [(200, 80, 0), (0, 120, 220), (0, 160, 0), (160, 0, 160)]
    for j, (name, runs) in enumerate(series.items()):
        runs = sorted(runs, key=lambda r: r["step"])
        colour = colours[j % len(colours)]
        for key, dashed in (("a_to_b_kid_inner", False), ("b_to_b_kid_inner", True)):
            points = [xy(r["step"], r[key]) for r in runs]
            for p in points:
                cv2.circle(canvas, p, 3, colour, -1 if not dashed else 1, cv2.LINE_AA)
            for p, q in zip(points, points[1:]):
                cv2.line(canvas, p, q, colour, 1, cv2.LINE_AA)
        cv2.putText(canvas, name, (margin + 160 * j, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    floor = float(np.mean([r["floor_kid_inner"] for r in rows]))
    cv2.line(canvas, xy(s0, floor), xy(s1, floor), (150, 150, 150), 1)
    cv2.putText(canvas, "floor (same man, other video)", (margin + 4, xy(s0, floor)[1] - 4),
                cv2.FONT_HERSHEY_SIMPLEX, 0.35, (120, 120, 120), 1)
    cv2.rectangle(canvas, (margin, margin), (width - margin, height - margin), (0, 0, 0), 1)
    cv2.putText(canvas, "inner-face KID x 1e3 vs held-out presenter (log); filled A->B, hollow B->B",
                (margin, height - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    cv2.putText(canvas, f"{10 ** hi:.0f}", (4, margin + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1)
    cv2.putText(canvas, f"{10 ** lo:.0f}", (4, height - margin), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1)
    cv2.putText(canvas, f"step {s0}", (margin, height - margin + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1)
    cv2.putText(canvas, f"step {s1}", (width - margin - 60, height - margin + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                (0, 0, 0), 1)
    cv2.imwrite(str(path), canvas)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument("--model", action="append", type=Path, default=[], help="a model folder (its weights.pt)")
    parser.add_argument("--data", type=Path, default=Path.home() / ".cache/avatar/data")
    parser.add_argument("--heldout-start", type=int, default=612)
    parser.add_argument("--faces", type=int, default=150, help="driver faces used for A->B")
    parser.add_argument("--png", type=Path, help="draw the curve here")
    parser.add_argument("--offset", action="append", default=[], metavar="RUN=STEPS",
                        help="steps behind a run's warm start that its checkpoints do not record")
    args = parser.parse_args()
    reference = load_faces("held-out presenter", args.data / "presenter-heldout", 128, start=args.heldout_start)
    same = load_faces("same person", args.data / "presenter-cap12", 128, max_faces=300)
    driver = load_faces("held-out driver", args.data / "driver-heldout", 128, max_faces=args.faces)
    floor = kid(realism_features(same)["inner"], realism_features(reference)["inner"])
    series: dict[str, list[dict]] = {}
    for model in args.model:
        series[model.name] = [measure(load_checkpoint(model / "weights.pt"), reference, driver, floor)]
    offsets = {name: int(steps) for name, steps in (item.split("=", 1) for item in args.offset)}
    for run in args.runs:
        cache = run / "realism-steps.jsonl"
        rows = [json.loads(line) for line in cache.read_text().splitlines()] if cache.exists() else []
        done = {r.get("run_step", r["step"]) for r in rows}
        for checkpoint in list_checkpoints(run):
            state = load_checkpoint(checkpoint)
            if int(state["step"]) in done:
                continue
            row = measure(state, reference, driver, floor, offsets.get(run.name, 0))
            rows.append(row)
            with open(cache, "a") as f:
                f.write(json.dumps(row) + "\n")
        for r in rows:  # rows cached before their offset was known
            if "run_step" not in r:
                r["run_step"], r["step"] = r["step"], r["step"] + offsets.get(run.name, 0)
        series[run.name] = sorted(rows, key=lambda r: r["step"])
    if args.png:
        plot(series, args.png)
    print(json.dumps(series, indent=1))


if __name__ == "__main__":
    main()
