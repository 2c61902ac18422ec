"""Benchmark StyleGAN2 training and generation; prints JSON.

    python bench/gan.py --data DIR [--sizes 64 128] [--steps 12] [--preset cpu] [--threads 1]

For each size: the real training loop (`avatar gan train`'s, on DIR's faces, all regularisers at
their default intervals, augmentation on) for `--steps` steps after two warm-up steps, reported as
seconds per kimg (median over steps, and the mean, which spreads the lazy R1 step's cost); then
the run's generator exported to ONNX and timed on onnxruntime (CPU, or GPU when present):
images/s generating 256 faces in batches of 32, median of 3. The default is one thread, the way
long runs train here (the other core stays free); `--threads 2` uses both cores.
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

import torch

from avatar.inference.generator import latents_for_seeds, load_generator_model
from avatar.training.gan.export import export_generator
from avatar.training.gan.networks import Generator, preset
from avatar.training.gan.train import GanTrainConfig, train


def training_speed(data: Path, size: int, name: str, steps: int, work: Path) -> dict:
    config = GanTrainConfig(kimg=(steps + 2) * 16 / 1000, batch=16, log_every=1, checkpoint_kimg=1000, max_images=512)
    times, last = [], [time.perf_counter()]

    def on_step(step: int, total: int, stats) -> None:
        now = time.perf_counter()
        if step > 2:  # the first steps allocate and pick kernels
            times.append(now - last[0])
        last[0] = now

    run = work / f"train-{size}"
    train(data, run, preset(name, size), config, on_step=on_step)
    per_kimg = [t * 1000 / 16 for t in times]
    params = sum(p.numel() for p in Generator(preset(name, size)).parameters())
    return {"size": size, "preset": name, "generator_params_m": round(params / 1e6, 2), "steps_timed": len(times),
            "s_per_kimg_median": round(statistics.median(per_kimg), 1),
            "s_per_kimg_mean": round(statistics.mean(per_kimg), 1), "run": run}


def generation_speed(run: Path, work: Path, size: int) -> dict:
    report = export_generator(run, work / f"generator-{size}.onnx")
    model = load_generator_model(report.path)
    z = latents_for_seeds(list(range(256)), model.z_dim)
    model.generate(z[:32])
    times = []
    for _ in range(3):
        start = time.perf_counter()
        model.generate(z)
        times.append(time.perf_counter() - start)
    return {"onnx_mb": round(report.size_bytes / 1e6, 1), "provider": model.providers[0],
            "images_per_s": round(256 / statistics.median(times), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="an `avatar extract` folder of one person")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--preset", default="cpu", choices=["cpu", "paper"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            row = training_speed(args.data, size, args.preset, args.steps, Path(tmp))
            row.update(generation_speed(row.pop("run"), Path(tmp), size))
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(json.dumps({"machine": f"{platform.machine()}, {os.cpu_count()} cores", "threads": args.threads,
                      "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                      "results": rows}, indent=1))


if __name__ == "__main__":
    main()
