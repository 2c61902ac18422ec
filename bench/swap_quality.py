"""Held-out reconstruction SSIM of the two presets at the same training budget; prints JSON.

    python bench/swap_quality.py --a DRIVER_FACES --b PRESENTER_FACES [--steps 250] [--equal-time]

The presenter faces from the `--hold-out` source video's last 20 % of frames are kept out of
training; both presets train with the same batch on the rest (same seed, data and
augmentation), then re-draw the held-out faces (B -> B) and the SSIM to the originals is
averaged. By default both train `--steps` steps; with `--equal-time`, `quality` trains
`--steps` steps and `fast` as many steps as fit in the same wall-clock time (its seconds per
step measured by a 20-step run first).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from avatar.metrics import ssim
from avatar.training.checkpoint import list_checkpoints
from avatar.training.data import load_faceset
from avatar.training.export import export
from avatar.training.model import preset
from avatar.training.train import TrainConfig, train
from avatar.inference import load_swap_model


def split(folder: Path, hold_out: str, out: Path) -> tuple[Path, Path]:
    """Two extract folders (train, held-out) sharing `folder`'s crops through symlinks."""
    records = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
    mine = [r for r in records if r["source"].startswith(hold_out)]
    cut = mine[int(len(mine) * 0.8)]["frame"] if mine else 0
    parts = {"train": [r for r in records if not (r["source"].startswith(hold_out) and r["frame"] >= cut)],
             "held": [r for r in records if r["source"].startswith(hold_out) and r["frame"] >= cut]}
    for name, rows in parts.items():
        (out / name).mkdir(parents=True)
        os.symlink(folder / "crops", out / name / "crops")
        (out / name / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out / "train", out / "held"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", type=Path, required=True)
    parser.add_argument("--b", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--hold-out", default="cap13_edit2")
    parser.add_argument("--landmarks", action="store_true")
    parser.add_argument("--equal-time", action="store_true", help="Give `fast` the wall-clock time `quality` took.")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        train_b, held_b = split(args.b, args.hold_out, Path(tmp) / "b")
        held = load_faceset(held_b, args.size)

        def run_preset(name: str, steps: int, folder: Path) -> float:
            config = dataclasses.replace(preset(name, args.size), landmarks=args.landmarks)
            started = time.perf_counter()
            train(args.a, train_b, folder, config, TrainConfig(steps=steps, batch=args.batch, seed=0,
                                                               checkpoint_every=steps, preview_every=steps))
            return time.perf_counter() - started

        budget = {"quality": args.steps, "fast": args.steps}
        if args.equal_time:
            quality_seconds = run_preset("quality", args.steps, Path(tmp) / "quality")
            fast_step = run_preset("fast", 20, Path(tmp) / "calibration") / 20
            budget["fast"] = max(1, round(quality_seconds / fast_step))
        for name in ("fast", "quality"):
            run = Path(tmp) / name
            steps = budget[name]
            if name == "quality" and args.equal_time:
                seconds = quality_seconds
            else:
                seconds = run_preset(name, steps, run)
            export(list_checkpoints(run)[-1], run / "model", held.images[:8], parity_landmarks=held.landmarks[:8])
            model = load_swap_model(run / "model" / "model.onnx")
            redrawn, _ = model.run(held.images, held.landmarks)
            masks = held.masks > 127
            # SSIM inside the face: the model only learns the masked face, not the background.
            scores = [ssim(np.where(m[..., None], a, 0).astype(np.uint8), np.where(m[..., None], b, 0).astype(np.uint8))
                      for a, b, m in zip(held.images, redrawn, masks)]
            results.append({"preset": name, "size": args.size, "steps": steps, "batch": args.batch,
                            "held_out_faces": len(held), "ssim_b_to_b_held_out": round(float(np.mean(scores)), 4),
                            "training_seconds": round(seconds, 1), "seconds_per_step": round(seconds / steps, 3)})
    gap = results[1]["ssim_b_to_b_held_out"] - results[0]["ssim_b_to_b_held_out"]
    print(json.dumps({"bench": "swap_quality", "budget": "equal time" if args.equal_time else "equal steps",
                      "results": results, "quality_minus_fast_ssim": round(gap, 4), "landmarks": args.landmarks},
                     indent=1))


if __name__ == "__main__":
    main()
