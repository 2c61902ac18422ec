"""How much a mouth moves, and how well it follows its own sound.

Mouth opening throughout is the inner-lip gap over the eye distance (`avatar.vision.mouth_opening`),
one value per video frame.

- `mouth_spread`: p90 - p10 of the opening over a stretch: how far the mouth travels between its
  usual closed and open positions (robust to a stray landmark frame).
- `talking_spread`: a person's own spread while talking, from real footage with no sound track:
  the median spread of the liveliest quarter of its answer-length windows (a window of
  listening, or of a held pose, moves little and ranks low; footage of a conversation holds
  long stretches of listening, so the quarter, not the half, stands for his speech).
- `sound_envelope` / `lagged_r`: the loudness of the sound per video frame, and the best Pearson
  r between the mouth and it within a few frames of lag (lips lead the sound they shape).
"""

from __future__ import annotations

import numpy as np

from avatar.metrics.expression import pearson


def mouth_spread(openings: np.ndarray) -> float:
    """p90 - p10 of (N,) mouth openings (0 for fewer than 2)."""
    values = np.asarray(openings, np.float64)
    return float(np.percentile(values, 90) - np.percentile(values, 10)) if len(values) > 1 else 0.0


def talking_spread(openings: np.ndarray, window: int) -> float:
    """The median `mouth_spread` of the liveliest quarter of the `window`-frame windows
    (half-overlapping) of (N,) openings of real footage in frame order; the whole footage's
    spread when it is shorter than two windows."""
    values = np.asarray(openings, np.float64)
    if window < 2 or len(values) < 2 * window:
        return mouth_spread(values)
    spreads = np.sort([mouth_spread(values[s:s + window]) for s in range(0, len(values) - window + 1, window // 2)])
    return float(np.median(spreads[3 * len(spreads) // 4:]))


def sound_envelope(audio: np.ndarray, sample_rate: int, fps: float, frames: int) -> np.ndarray:
    """(frames,) float64 RMS loudness of (N,) int16 (or float) mono audio over each video frame's
    span (1 / fps s), 0 past the sound's end."""
    samples = np.asarray(audio, np.float64)
    out = np.zeros(frames)
    for i in range(frames):
        chunk = samples[int(i * sample_rate / fps): int((i + 1) * sample_rate / fps)]
        if len(chunk):
            out[i] = np.sqrt(np.mean(chunk ** 2))
    return out


def lagged_r(mouth: np.ndarray, sound: np.ndarray, max_lag: int = 4) -> tuple[float, int]:
    """The best Pearson r between (N,) mouth values and (N,) sound values with the sound shifted
    by -max_lag..max_lag frames (positive lag: the sound comes after the mouth), and that lag.
    NaN entries of `mouth` (no face found) are left out."""
    mouth, sound = np.asarray(mouth, np.float64), np.asarray(sound, np.float64)
    best, best_lag = -1.0, 0
    for lag in range(-max_lag, max_lag + 1):
        if lag >= 0:
            a, b = mouth[: len(mouth) - lag], sound[lag:]
        else:
            a, b = mouth[-lag:], sound[: len(sound) + lag]
        keep = ~np.isnan(a)
        if keep.sum() > 2:
            r = pearson(a[keep], b[keep])
            if r > best:
                best, best_lag = r, lag
    return float(best), best_lag
