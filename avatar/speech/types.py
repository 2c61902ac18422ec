"""What every voice gives back: audio with its phonemes timed, a sentence at a time or joined."""

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


def join_speech(pieces: list[Speech], text: str) -> Speech:
    """`pieces` (one voice's sentences, in order, at one sample rate) as one Speech saying `text`:
    audio end to end, each piece's phonemes moved by the audio before it, a pause that ends one
    piece and the pause that starts the next made one."""
    if not pieces:
        raise ValueError("there is no speech to join")
    rate, phonemes, offset = pieces[0].sample_rate, [], 0
    for piece in pieces:
        if piece.sample_rate != rate:
            raise ValueError(f"speech at {piece.sample_rate} Hz cannot follow speech at {rate} Hz")
        shift = offset / rate
        for p in piece.phonemes:
            if phonemes and p.symbol == "_" and phonemes[-1].symbol == "_":
                phonemes[-1] = Phoneme("_", phonemes[-1].start, p.end + shift)
            else:
                phonemes.append(Phoneme(p.symbol, p.start + shift, p.end + shift))
        offset += len(piece.audio)
    audio = np.concatenate([piece.audio for piece in pieces]).astype(np.int16, copy=False)
    return Speech(audio, rate, tuple(phonemes), text)
