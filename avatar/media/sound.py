"""Where a recording's speech is: its first and last loud stretch, from the WAV's short-time energy."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

WINDOW_S = 0.02  # energy windows
MIN_VOICED_S = 0.1  # a stretch this long above the threshold counts as speech (a click does not)
PAD_BEFORE_S, PAD_AFTER_S = 0.15, 0.3  # kept around the speech: breath in, the last word's decay


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """(mono float32 samples in -1..1, sample rate) of a 16-bit PCM WAV."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path.name}: expected 16-bit PCM")
        rate, channels = wav.getframerate(), wav.getnchannels()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    return samples.reshape(-1, channels).mean(axis=1), rate


def speech_span(path: Path) -> tuple[float, float] | None:
    """(start, end) seconds of the speech in a WAV, padded by PAD_BEFORE_S / PAD_AFTER_S and
    clipped to the file; None when nothing stands out from the background (silence or noise).

    A window is voiced when its RMS is over max(4 x the background, 10 % of the loud windows'
    level), the background being the quietest fifth of windows and the loud level the 95th
    percentile; speech starts at the first run of voiced windows lasting MIN_VOICED_S and ends
    after the last such run."""
    samples, rate = read_wav(path)
    size = max(1, int(rate * WINDOW_S))
    count = len(samples) // size
    if count < 3:
        return None
    rms = np.sqrt((samples[:count * size].reshape(count, size) ** 2).mean(axis=1))
    background, loud = np.percentile(rms, 20), np.percentile(rms, 95)
    threshold = max(4 * background, 0.1 * loud, 1e-3)
    if loud < threshold:
        return None
    voiced = rms > threshold
    need = max(1, int(round(MIN_VOICED_S / WINDOW_S)))
    runs = np.convolve(voiced.astype(int), np.ones(need, int), "valid") == need  # run of `need` starts here
    starts = np.flatnonzero(runs)
    if not len(starts):
        return None
    duration = len(samples) / rate
    start = starts[0] * WINDOW_S - PAD_BEFORE_S
    end = (starts[-1] + need) * WINDOW_S + PAD_AFTER_S
    return max(0.0, start), min(duration, end)
