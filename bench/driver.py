"""Benchmark synthesised driver clips on the shipped library; prints JSON.

    python bench/driver.py [--library assets/driver/default] [--render]

For each sentence: Pearson r between the speech's mouth-opening target and the clip's mouth
opening (from its landmarks), the 99th percentile of landmark jumps between consecutive frames
relative to the library video's own, clip length vs audio length, and the time to choose the
frames (and, with --render, to paste every frame).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from avatar.driver import DriverLibrary, synthesize_driver
from avatar.driver.library import DEFAULT_LIBRARY
from avatar.driver.synthesize import landmark_jumps
from avatar.metrics import pearson
from avatar.vision import mouth_opening
from avatar.speech import synthesize

SENTENCES = [
    "Do you know gossip? Gregory said I respond to the current line, not with respect to the entire conversation.",
    "Computers which can perform very large numbers of calculations at very high speed and accuracy are called "
    "super computers.",
    "What do you want to know? I can tell you about science, history and sports.",
    "The quick brown fox jumps over the lazy dog while the band plays music.",
    "Please remember to bring a map, a pen and some paper tomorrow morning.",
    "Yes I am. I am a computer program, a synthetic presenter, and not a person.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", type=Path, default=DEFAULT_LIBRARY)
    parser.add_argument("--render", action="store_true", help="also time decoding and pasting every frame")
    args = parser.parse_args()
    library = DriverLibrary.load(args.library)
    source = float(np.percentile(landmark_jumps(library.landmarks[library.valid].astype(np.float64)), 99))
    results = []
    for text in SENTENCES:
        speech = synthesize(text)
        start = time.perf_counter()
        clip = synthesize_driver(speech, library)
        choose = time.perf_counter() - start
        opening = [mouth_opening(p) for p in clip.landmarks]
        row = {"text": text[:40], "frames": len(clip), "audio_frames": round(speech.duration * library.fps, 2),
               "mouth_r": round(pearson(clip.targets[:, 0], opening), 3),
               "jump_p99_vs_source": round(float(np.percentile(landmark_jumps(clip.landmarks.astype(np.float64)), 99))
                                           / source, 3),
               "choose_ms_per_frame": round(1000 * choose / len(clip), 2)}
        if args.render:
            start = time.perf_counter()
            for _ in clip.iter_rgb():
                pass
            row["render_ms_per_frame"] = round(1000 * (time.perf_counter() - start) / len(clip), 2)
        results.append(row)
    silence = synthesize_driver(synthesize(""), library)
    closed = float(np.median([mouth_opening(p) for p in silence.landmarks]))
    print(json.dumps({
        "bench": "driver", "library": str(args.library), "library_frames": len(library), "results": results,
        "mean_mouth_r": round(float(np.mean([r["mouth_r"] for r in results])), 3),
        "max_jump_p99_vs_source": max(r["jump_p99_vs_source"] for r in results),
        "silence_mouth_opening": round(closed, 3),
        "library_opening_p10_p50": [round(float(q), 3) for q in np.quantile(library.features[library.valid, 0], [0.1, 0.5])],
    }, indent=1))


if __name__ == "__main__":
    main()
