"""From espeak-ng phonemes to a per-frame mouth-shape target track.

A mouth shape is (opening, width, roundness): opening is the inner-lip gap divided by the
distance between the eye centres (the units of `avatar.vision.features.mouth_opening`), width is the
mouth corners' distance relative to the speaker's own resting width (1 = at rest), roundness is
0 (spread) to 1 (pursed). Targets per viseme class are typical values for an adult speaker.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from avatar.speech.synth import Phoneme, synthesize

# Everyday English of our own (no domain's words), whose mouth-shape targets stand for how often
# ordinary speech asks for each opening: `speech_openings`.
REFERENCE_PASSAGE = (
    "Good morning, and thank you for calling. I can see that your parcel left the warehouse on Tuesday, "
    "so it should reach you within two or three days. If it does not arrive by Friday, please write to us, "
    "and we will send another one at once. Is there anything else I can do for you today? "
    "Many people ask about the weather in the mountains, but honestly it changes every hour.")

# class: (opening, width, roundness), and its dominance: how strongly it claims the mouth
# against its neighbours (lips must really close for p/b/m, while t/d/k barely show).
VISEMES = {
    "rest": ((0.02, 1.00, 0.0), 1.0),
    "closed": ((0.00, 1.00, 0.0), 3.0),  # p b m
    "lip_teeth": ((0.05, 1.00, 0.0), 2.0),  # f v
    "narrow": ((0.12, 1.00, 0.1), 0.5),  # t d n l s z T D k g N h r
    "spread": ((0.12, 1.10, 0.0), 1.0),  # i: I j
    "mid": ((0.22, 1.04, 0.1), 1.0),  # e E @ 3
    "open": ((0.38, 1.04, 0.1), 1.0),  # a A V aI aU
    "round": ((0.20, 0.82, 0.8), 1.5),  # u: U O: oU 0 w
    "pucker": ((0.15, 0.85, 0.7), 1.5),  # S Z tS dZ
}


def viseme_of(symbol: str) -> str:
    """Viseme class of a phoneme: an espeak-ng mnemonic ("oU", "tS") or IPA as Piper voices give
    it ("oʊ", "tʃ"; stress marks and variants ignored). The two alphabets agree on the letters
    they share (p b m f v w u o a e i j), so one table reads both."""
    s = symbol.lstrip("',%=ˈˌ")
    if not s or s.startswith("_"):
        return "rest"
    if s in ("tS", "dZ") or s[0] in "SZʃʒ" or s in ("tʃ", "dʒ"):
        return "pucker"
    head = s[0]
    if head in "pbm":
        return "closed"
    if head in "fv":
        return "lip_teeth"
    if head in "wuUoO0ʊɔɒʍ":
        return "round"
    if head in "aAVæɑʌɐ":
        return "open"
    if head in "iIjɪ":
        return "spread"
    if head in "eE@3ɛəɜɚɝ":
        return "mid"
    return "narrow"


def mouth_track(phonemes: Sequence[Phoneme], duration: float, fps: float, spread: float = 0.025) -> np.ndarray:
    """(round(duration * fps), 3) float32 mouth-shape targets, one row per video frame.

    Coarticulation: each phoneme's target holds over its span; the track is then smoothed with
    a Gaussian of `spread` seconds, weighted by each class's dominance, so neighbouring sounds
    blend the way lips do. A p/b/m shorter than a frame could then fall between two frames, so
    the frame nearest the middle of each one is given the closed shape: a viewer misses a
    bilabial that never closes the lips.
    """
    frames = int(round(duration * fps))
    step = 0.001
    samples = max(1, int(np.ceil(duration / step)))
    values = np.tile(np.array(VISEMES["rest"][0], np.float64), (samples, 1))
    weights = np.full(samples, VISEMES["rest"][1])
    for p in phonemes:
        target, dominance = VISEMES[viseme_of(p.symbol)]
        a, b = int(p.start / step), max(int(p.start / step) + 1, int(p.end / step))
        values[a:b] = target
        weights[a:b] = dominance
    radius = int(3 * spread / step)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) * step / spread) ** 2)
    weighted = np.stack([np.convolve(values[:, k] * weights, kernel, mode="same") for k in range(3)], 1)
    norm = np.convolve(weights, kernel, mode="same")[:, None]
    smooth = weighted / norm
    times = (np.arange(frames) + 0.5) / fps
    index = np.clip((times / step).astype(int), 0, samples - 1)
    track = smooth[index].astype(np.float32)
    for p in phonemes:
        if viseme_of(p.symbol) == "closed" and frames:
            frame = min(frames - 1, int((p.start + p.end) / 2 * fps))
            track[frame] = VISEMES["closed"][0]
    return track


@lru_cache(maxsize=1)
def speech_openings() -> np.ndarray:
    """(101,) float64 percentiles 0..100 of the opening target (`mouth_track`, 25 fps) over
    REFERENCE_PASSAGE as the default voice speaks it: how the openings of ordinary speech are
    spread, to be matched to one person's own while talking (`driver.synthesize.choose_mouths`)."""
    speech = synthesize(REFERENCE_PASSAGE)
    track = mouth_track(speech.phonemes, speech.duration, 25.0)[:, 0]
    return np.percentile(track.astype(np.float64), np.arange(101))
