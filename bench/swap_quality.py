"""Held-out reconstruction SSIM of the two presets at the same training budget; prints JSON.

    python bench/swap_quality.py --a DRIVER_FACES --b PRESENTER_FACES [--steps 250] [--hold-out cap13_edit2]

The presenter faces from the `--hold-out` source video's last 20 % of frames are kept out of
training; both presets train for the same steps and batch on the rest (same seed, data and
augmentation), then re-draw the held-out faces (B -> B) and the SSIM to the originals is
averaged. Seconds per step are reported too: at equal wall-clock time `fast` sees far more.
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
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        train_b, held_b = split(args.b, args.hold_out, Path(tmp) / "b")
        held = load_faceset(held_b, args.size)
        for name in ("fast", "quality"):
            config = dataclasses.replace(preset(name, args.size), landmarks=args.landmarks)
            run = Path(tmp) / name
            started = time.perf_counter()
            train(args.a, train_b, run, config, TrainConfig(steps=args.steps, batch=args.batch, seed=0,
                                                            checkpoint_every=args.steps, preview_every=args.steps))
            seconds = time.perf_counter() - started
            export(list_checkpoints(run)[-1], run / "model", held.images[:8], parity_landmarks=held.landmarks[:8])
            model = load_swap_model(run / "model" / "model.onnx")
            redrawn, _ = model.run(held.images, held.landmarks)
            masks = held.masks > 127
            # SSIM inside the face: the model only learns the masked face, not the background.
            scores = [ssim(np.where(m[..., None], a, 0).astype(np.uint8), np.where(m[..., None], b, 0).astype(np.uint8))
                      for a, b, m in zip(held.images, redrawn, masks)]
            results.append({"preset": name, "size": args.size, "steps": args.steps, "batch": args.batch,
                            "held_out_faces": len(held), "ssim_b_to_b_held_out": round(float(np.mean(scores)), 4),
                            "seconds_per_step": round(seconds / args.steps, 3)})
    gap = results[1]["ssim_b_to_b_held_out"] - results[0]["ssim_b_to_b_held_out"]
    print(json.dumps({"bench": "swap_quality", "results": results, "quality_minus_fast_ssim": round(gap, 4),
                      "landmarks": args.landmarks}, indent=1))


if __name__ == "__main__":
    main()
