"""Benchmark app start-up: seconds until the Gradio app is built and queued; prints JSON.

    python bench/startup.py [--compare OTHER_CHECKOUT] [--runs 5]

Each run is a fresh interpreter that imports `app.py` (which builds and queues the demo; the
server is not started) and lists which heavy modules that pulled in. With `--compare`, the
other checkout (e.g. `git worktree add /tmp/before <rev>`) is timed in the same run,
alternating with this one, with this checkout's virtualenv; the ratio is other / this.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("torch", "face_recognition", "dlib", "onnxruntime", "chatterbot", "cv2", "c2pa")
PROBE = ("import sys, app; print(' '.join(m for m in %r if m in sys.modules))" % (HEAVY,))


def start(checkout: Path) -> tuple[float, list[str]]:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=checkout, capture_output=True, text=True, check=True)
    return time.perf_counter() - began, done.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", type=Path, help="another checkout to time in the same run")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    trees = {"this": Path(__file__).resolve().parents[1]}
    if args.compare:
        trees["other"] = args.compare.resolve()
    start(trees["this"])  # warm the file cache once so the first timed run is not penalised
    seconds: dict[str, list[float]] = {name: [] for name in trees}
    loaded: dict[str, list[str]] = {}
    for _ in range(args.runs):
        for name, tree in trees.items():
            elapsed, modules = start(tree)
            seconds[name].append(elapsed)
            loaded[name] = modules
    result = {name: {"checkout": str(trees[name]), "median_s": round(statistics.median(s), 2),
                     "runs_s": [round(x, 2) for x in s], "heavy_modules": loaded[name]}
              for name, s in seconds.items()}
    if args.compare:
        result["other_over_this"] = round(result["other"]["median_s"] / result["this"]["median_s"], 2)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
