"""Benchmark whole replies through `avatar.service.Avatar`: message -> playable MP4; prints JSON.

    python bench/reply.py [--model models/presenter-interim]

For replies of different lengths (synthesised driver, cold cache): seconds from message to a
finished MP4, by stage, and the ratio to the reply's duration (target <= 0.5 on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from avatar.config import Deployment
from avatar.presenter import DEFAULT_MODEL
from avatar.service import Avatar

MESSAGES = ["Hello", "What is AI?", "What was the first computer?",
            "What is a super computer?"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        avatar = Avatar(model=args.model, deploy=Deployment(root=Path(tmp)))
        avatar.say("Warm up.")  # first-use costs (model session, library index) are not per reply
        results = []
        for message in MESSAGES:
            start = time.perf_counter()
            answer = avatar.respond(message, session="bench")
            seconds = time.perf_counter() - start
            results.append({"message": message, "reply": answer.text[:60], "video_seconds": round(answer.duration, 2),
                            "seconds": round(seconds, 2), "ratio": round(seconds / answer.duration, 3),
                            "stages": {k: round(v, 3) for k, v in answer.seconds.items()}})
    print(json.dumps({"bench": "reply", "model": str(args.model), "provider": avatar.about(None)["provider"],
                      "results": results}, indent=1))


if __name__ == "__main__":
    main()
