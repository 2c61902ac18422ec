"""Benchmark whole replies through `avatar.service.Avatar`: message -> playable MP4; prints JSON.

    python bench/reply.py [--model models/presenter-default] [--renderer exemplar --renderer swap]

For replies of different lengths (synthesised driver, cold cache), with each renderer in turn:
seconds from message to a finished MP4, by stage, the ratio to the reply's duration (target
<= 0.4 on 2 cores), and the process's peak resident memory after the answers.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from avatar.config import Deployment, RenderConfig
from avatar.presenter import DEFAULT_MODEL
from avatar.service import open_service

MESSAGES = ["Hello", "What is AI?", "What was the first computer?",
            "What is a super computer?"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--renderer", action="append", choices=["exemplar", "swap"])
    args = parser.parse_args()
    results = []
    for renderer in args.renderer or ["exemplar", "swap"]:
        with tempfile.TemporaryDirectory() as tmp:
            # The English small-talk corpus answers these messages with replies of different lengths
            # (the default demo FAQ would answer each with its one fallback line, cached after the first).
            deploy = Deployment(root=Path(tmp), model=args.model, corpus="english")
            avatar = open_service(deploy, render=RenderConfig(renderer=renderer))
            avatar.say("Warm up.")  # first-use costs (model session, library index) are not per reply
            for message in MESSAGES:
                start = time.perf_counter()
                answer = avatar.respond(message, session="bench")
                seconds = time.perf_counter() - start
                results.append({"renderer": renderer, "message": message, "reply": answer.text[:60],
                                "video_seconds": round(answer.duration, 2), "seconds": round(seconds, 2),
                                "ratio": round(seconds / answer.duration, 3),
                                "stages": {k: round(v, 3) for k, v in answer.seconds.items()}})
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            results.append({"renderer": renderer, "peak_resident_mb": round(peak)})
    print(json.dumps({"bench": "reply", "model": str(args.model), "provider": avatar.about(None)["provider"],
                      "results": results}, indent=1))


if __name__ == "__main__":
    main()
