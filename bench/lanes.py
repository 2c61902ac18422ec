"""Benchmark one render at a time against two at once in one process; prints JSON.

    python bench/lanes.py [--answers 4]

The shipped presenter says the same `--answers` demo FAQ answers, all asked at once, first with
the service's render lane (one at a time), then with a stand-in lane that lets two renders run
together; each mode in its own process with a fresh cache (nothing is cached between them).
Reports each answer's time from asking to its finished video and the wall time for all.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class TwoAtOnce:
    """A stand-in for `avatar.serving.lane.RenderLane` that lets two jobs hold it together."""

    def __init__(self):
        self._slots = threading.BoundedSemaphore(2)

    @contextlib.contextmanager
    def person(self, party: str = ""):
        with self._slots:
            yield

    def try_background(self) -> bool:
        return False

    def people_waiting(self) -> int:
        return 0


def run_mode(lanes: int, count: int) -> dict:
    from avatar.service import open_service

    avatar = open_service()
    if lanes == 2:
        avatar._lane = TwoAtOnce()
    with open(ROOT / "assets" / "chat" / "demo-shop.csv", newline="", encoding="utf-8") as f:
        texts = [row["answer"] for row in csv.DictReader(f)][10:10 + count]
    avatar.say("Hello there, welcome.")  # warm: models loaded, first-call costs paid
    seconds, durations = [0.0] * count, [0.0] * count

    def say(i: int) -> None:
        started = time.perf_counter()
        durations[i] = avatar.say(texts[i]).duration
        seconds[i] = time.perf_counter() - started

    started = time.perf_counter()
    threads = [threading.Thread(target=say, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"lanes": lanes, "wall_s": round(time.perf_counter() - started, 2),
            "answer_s": [round(s, 2) for s in seconds], "video_s": round(sum(durations), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=4)
    parser.add_argument("--mode", type=int, choices=[1, 2], help=argparse.SUPPRESS)  # one mode, in this process
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_mode(args.mode, args.answers)))
        return
    results = []
    for lanes in (1, 2):
        with tempfile.TemporaryDirectory() as cache:
            out = subprocess.run([sys.executable, __file__, "--mode", str(lanes), "--answers", str(args.answers)],
                                 env={**os.environ, "AVATAR_CACHE": cache}, capture_output=True, text=True, check=True)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    one, two = results
    print(json.dumps({"bench": "lanes", "machine": f"{os.cpu_count()} CPUs", "one_at_a_time": one, "two_at_once": two,
                      "all_done_speedup": round(one["wall_s"] / two["wall_s"], 2),
                      "first_answer_slowdown": round(min(two["answer_s"]) / min(one["answer_s"]), 2)}, indent=1))


if __name__ == "__main__":
    main()
