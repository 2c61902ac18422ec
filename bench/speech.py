"""Benchmark speech synthesis: real-time factor (synthesis time / audio length); prints JSON.

    python bench/speech.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from avatar.speech import mouth_track, synthesize

TEXTS = [
    "Hi",
    "Artificial Intelligence is the branch of engineering and science devoted to constructing machines that think.",
    "It's hard to say, but The ENIAC is regarded as the first 'real' computer. It was developed at University of "
    "Pennsylvania in 1946.",
    " ".join(["Computers which can perform very large numbers of calculations at very high speed and accuracy are "
              "called super computers."] * 6),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    synthesize("warm up")
    results = []
    for text in TEXTS:
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            speech = synthesize(text)
            mouth_track(speech.phonemes, speech.duration, 25)
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        results.append({"chars": len(text), "audio_seconds": round(speech.duration, 2), "seconds": round(seconds, 4),
                        "real_time_factor": round(seconds / speech.duration, 4), "phonemes": len(speech.phonemes)})
    print(json.dumps({"bench": "speech", "results": results}, indent=1))


if __name__ == "__main__":
    main()
