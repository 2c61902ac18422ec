"""Voices side by side on the same texts: real-time factor (synthesis time / audio length), time
to first audio (the first sentence, as answers are spoken sentence by sentence), duration,
phoneme coverage of the audio, and pitch movement; prints JSON (a table on stderr).

    python bench/speech.py [--voice espeak --voice joe] [--repeats 5]

phoneme coverage: the share of the audio that the voice's phoneme timings cover (1.0: every
sample belongs to a phoneme or pause) and the share of its loud 10 ms windows that fall on a
sound rather than a pause (how well the timings sit on the audio). pitch range: p90 - p10 of the
voiced frames' fundamental frequency, in semitones (autocorrelation, 70-300 Hz): a monotone
voice moves little.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

from avatar.speech import SpeechConfig, mouth_track, speak_sentences, synthesize

TEXTS = [
    "Hi",
    "Thank you for calling. Your parcel left our warehouse on Tuesday, so it should reach you within three days.",
    "Call 0800 123 4567 or pay £3.95 by 9 am. We are open Mon-Fri, 9:00-17:30.",
    "Artificial Intelligence is the branch of engineering and science devoted to constructing machines that think.",
    " ".join(["Computers which can perform very large numbers of calculations at very high speed and accuracy are "
              "called super computers."] * 4),
]


def pitch_semitones(audio: np.ndarray, rate: int) -> np.ndarray:
    """Fundamental frequency of each voiced 40 ms frame (10 ms hop), in semitones above 70 Hz."""
    signal = audio.astype(np.float64) / 32768
    size, hop = int(0.04 * rate), int(0.01 * rate)
    low, high = int(rate / 300), int(rate / 70)
    loud = np.sqrt(np.mean(signal ** 2)) * 0.5
    found = []
    for start in range(0, len(signal) - size, hop):
        frame = signal[start:start + size] - signal[start:start + size].mean()
        if np.sqrt(np.mean(frame ** 2)) < loud:
            continue
        corr = np.correlate(frame, frame, "full")[size - 1:]
        corr = corr / (corr[0] + 1e-12)
        lag = low + int(np.argmax(corr[low:high]))
        if corr[lag] > 0.5:
            found.append(12 * np.log2(rate / lag / 70))
    return np.array(found)


def coverage(speech) -> tuple[float, float]:
    covered = sum(p.end - p.start for p in speech.phonemes) / speech.duration
    rate, window = speech.sample_rate, int(0.01 * speech.sample_rate)
    audio = speech.audio.astype(np.float64)
    energy = np.array([np.sqrt(np.mean(audio[i:i + window] ** 2)) for i in range(0, len(audio) - window, window)])
    loud = np.flatnonzero(energy > 0.1 * energy.max()) if len(energy) else np.array([], int)
    times = (loud + 0.5) * window / rate
    on_sound = [any(p.start <= t < p.end and p.symbol != "_" for p in speech.phonemes) for t in times]
    return covered, float(np.mean(on_sound)) if on_sound else 0.0


def measure(voice: str, repeats: int) -> list[dict]:
    config = SpeechConfig(voice=voice)
    synthesize("warm up", config)
    rows = []
    for text in TEXTS:
        times, first = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            sentences = speak_sentences(text, config)  # as answers are spoken: the first sentence first
            next(sentences)
            first.append(time.perf_counter() - start)
            sentences.close()
            start = time.perf_counter()
            speech = synthesize(text, config)
            mouth_track(speech.phonemes, speech.duration, 25)
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        covered, on_sound = coverage(speech)
        pitch = pitch_semitones(speech.audio, speech.sample_rate)
        rows.append({"voice": voice, "chars": len(text), "audio_seconds": round(speech.duration, 2),
                     "seconds": round(seconds, 4), "real_time_factor": round(seconds / speech.duration, 4),
                     "first_audio_seconds": round(statistics.median(first), 4), "phonemes": len(speech.phonemes),
                     "phoneme_coverage": round(covered, 4), "loud_on_sounds": round(on_sound, 3),
                     "pitch_range_semitones": round(float(np.percentile(pitch, 90) - np.percentile(pitch, 10)), 2)
                     if len(pitch) > 10 else None})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voice", action="append", help="voices to compare [default: espeak and joe]")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results = [row for voice in (args.voice or ["espeak", "joe"]) for row in measure(voice, args.repeats)]
    print(json.dumps({"bench": "speech", "results": results}, indent=1))
    print("| voice | chars | audio s | RTF | first audio s | coverage | loud on sounds | pitch range st |\n"
          "|---|---|---|---|---|---|---|---|", file=sys.stderr)
    for r in results:
        print(f"| {r['voice']} | {r['chars']} | {r['audio_seconds']} | {r['real_time_factor']} | "
              f"{r['first_audio_seconds']} | {r['phoneme_coverage']:.0%} | {r['loud_on_sounds']:.0%} | "
              f"{r['pitch_range_semitones']} |", file=sys.stderr)


if __name__ == "__main__":
    main()
