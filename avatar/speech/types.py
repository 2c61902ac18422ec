"""What every voice gives back: audio with its phonemes timed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Phoneme:
    """A phoneme (an espeak-ng mnemonic such as "oU", or IPA such as "oʊ" from a Piper voice; "_"
    for a pause) and its time span (s)."""

    symbol: str
    start: float
    end: float


@dataclass(frozen=True)
class Speech:
    """audio: (N,) int16 mono PCM at sample_rate; phonemes in time order, covering the audio."""

    audio: np.ndarray
    sample_rate: int
    phonemes: tuple[Phoneme, ...]
    text: str

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate
