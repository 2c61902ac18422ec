"""Benchmark the replicated deployment on this machine; prints JSON.

    python bench/cluster.py [--model models/presenter-default] [--answers 8] [--sessions 4]

Starts PostgreSQL, Redis and moto's S3 server (tests/servers.py), then renders distinct answers
(cold cache, synthesised driver) three ways, each in the same run:
    in-process   the single-machine app: `Avatar` renders itself, one at a time
    1 worker     `Avatar` with AVATAR_BROKER enqueues; one `avatar worker` renders
    2 workers    the same with two workers
For each: answers per minute with `--sessions` sessions asking at once, and the median and p95
time from message to a playable video in the local answers folder. The queue's own cost per job
(enqueue, pick-up, result, fetching the video from storage: the app's wall time less the
worker's, asked one at a time so no job waits for a worker) is reported separately (target:
under 50 ms); under load the same difference also holds the wait for a free worker. Honest about the machine: on 2 cores,
two workers share the cores that one used.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avatar.config import Deployment  # noqa: E402
from avatar.presenter import DEFAULT_MODEL  # noqa: E402
from avatar.service import Avatar, open_service  # noqa: E402
from tests import servers  # noqa: E402


def sentences(tag: str, n: int) -> list[str]:
    """Distinct replies of about three seconds each (never cached)."""
    return [f"This is answer {i} of the {tag} run, about our product and how it helps you." for i in range(n)]


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def run(avatar: Avatar, texts: list[str], sessions: int) -> dict:
    """Ask `texts` from `sessions` threads at once; times per answer and overall."""
    def one(text: str) -> tuple[float, dict]:
        started = time.perf_counter()
        answer = avatar.say(text)
        assert answer.video.is_file() and not answer.cached
        return time.perf_counter() - started, answer.seconds

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=sessions) as pool:
        results = list(pool.map(one, texts))
    wall = time.perf_counter() - started
    times = [t for t, _ in results]
    queue = [s["queue"] for _, s in results if "queue" in s]
    return {"answers": len(texts), "answers_per_minute": round(60 * len(texts) / wall, 2),
            "median_s": round(statistics.median(times), 2), "p95_s": round(p95(times), 2),
            # the app's wall time less the worker's: the queue's cost, plus waiting for a free worker under load
            **({"queue_ms_median": round(1000 * statistics.median(queue), 1),
                "queue_ms_p95": round(1000 * p95(queue), 1)} if queue else {})}


def start_worker(env: dict, cache: Path, log: Path) -> subprocess.Popen:
    worker = subprocess.Popen([sys.executable, "-m", "avatar", "worker"], env={**env, "AVATAR_CACHE": str(cache)},
                              stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 120
    while "ready." not in log.read_text():
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not start: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    return worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--answers", type=int, default=8, help="distinct answers per setting")
    parser.add_argument("--sessions", type=int, default=4, help="sessions asking at once")
    args = parser.parse_args()
    pg, redis, s3 = servers.postgres(), servers.redis(), servers.s3()
    workers: list[subprocess.Popen] = []
    try:
        servers.make_bucket(s3, "avatar-bench")
        env = {**os.environ, **s3.env, "AVATAR_DB": pg.url, "AVATAR_BROKER": redis.url,
               "AVATAR_STORAGE": "s3://avatar-bench/media", "AVATAR_MODEL": str(args.model.resolve())}
        os.environ.update(s3.env)
        tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
        results = {}

        local = open_service(Deployment(root=tmp / "local", model=args.model))
        local.say("Warm up.")
        results["in-process"] = run(local, sentences("in-process", args.answers), args.sessions)

        shared = Deployment(root=tmp / "replica", db=pg.url, storage=env["AVATAR_STORAGE"], broker=redis.url,
                            s3_endpoint=s3.endpoint, model=args.model)
        workers.append(start_worker(env, tmp / "worker-0", tmp / "worker-0.log"))
        replica = open_service(shared)
        replica.say("Warm up.")  # the worker's first job
        sequential = run(replica, sentences("one-at-a-time", max(3, args.answers // 2)), 1)
        results["1 worker"] = run(replica, sentences("1-worker", args.answers), args.sessions)
        workers.append(start_worker(env, tmp / "worker-1", tmp / "worker-1.log"))
        replica.say("Warm up the second worker.")
        replica.say("And once more, so that both have rendered.")
        results["2 workers"] = run(replica, sentences("2-workers", args.answers), args.sessions)
        local_one = run(local, sentences("in-process-one-at-a-time", max(3, args.answers // 2)), 1)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=60)
        for server in (pg, redis, s3):
            server.stop()
        pg.cleanup()
        redis.cleanup()
    print(json.dumps({
        "bench": "cluster", "model": str(args.model), "cores": os.cpu_count(), "sessions": args.sessions,
        "settings": results,
        "queue_overhead_per_job_ms": {"median": sequential["queue_ms_median"], "p95": sequential["queue_ms_p95"],
                                      "target": 50},
        "one_at_a_time": {"in-process": local_one, "1 worker": sequential,
                          "queued_vs_in_process_median_ms": round(1000 * (sequential["median_s"]
                                                                          - local_one["median_s"]), 1)},
        "ratios": {"2 workers / 1 worker answers per minute": round(
            results["2 workers"]["answers_per_minute"] / results["1 worker"]["answers_per_minute"], 2),
            "1 worker / in-process answers per minute": round(
            results["1 worker"]["answers_per_minute"] / results["in-process"]["answers_per_minute"], 2)},
    }, indent=1))


if __name__ == "__main__":
    main()
