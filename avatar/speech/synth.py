"""Speech synthesis: `synthesize` speaks with the configured voice (`avatar.speech.voices`:
a Piper neural voice, see `avatar.speech.piper`, or espeak-ng) after reading the text as a
person would (`avatar.speech.normalize`). This module owns espeak-ng, through pyttsx3's bindings.

espeak-ng reports, while it synthesises, the sample at which each phoneme starts; we keep those
events, so the timings are exact for the audio they come with (no forced alignment). espeak-ng
is not thread-safe and is initialised once per process: every call goes through one lock.
"""

from __future__ import annotations

import ctypes
import re
import threading
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from avatar.speech.types import Phoneme, Speech, join_speech

_PHONEME_EVENT = 7  # espeakEVENT_PHONEME in speak_lib.h (pyttsx3 does not name it)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_lock = threading.Lock()
_engine = {}  # sample_rate and the live callback, set on first use


@dataclass(frozen=True)
class SpeechConfig:
    voice: str = "joe"  # a voice's name (`avatar voices list`): the shipped neural voice
    espeak_voice: str = "en-us"  # the espeak-ng voice the "espeak" voice speaks with (`espeak-ng --voices`)
    rate: int = 165  # words per minute (espeak-ng)
    pitch: int = 50  # 0-100 (espeak-ng)
    read_aloud: bool = True  # phone numbers, prices, times, dates... as a person reads them (`normalize`)
    max_sentence_chars: int = 400  # longer text is split into sentences (and long sentences at commas)
    silence: float = 0.4  # seconds of silence for empty text


def _espeak():
    """The espeak-ng library, initialised once: synchronous synthesis with phoneme events."""
    from pyttsx3.drivers import _espeak as espeak

    if "rate" not in _engine:
        rate = espeak.Initialize(espeak.AUDIO_OUTPUT_SYNCHRONOUS, 500, None, 1)  # bit 0: phoneme events
        if rate <= 0:
            raise RuntimeError("espeak-ng could not be initialised (is the espeak-ng package installed?)")
        _engine["rate"] = rate
    return espeak


def _synthesize_one(text: str, config: SpeechConfig) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """Audio and (symbol, start sample) phoneme events for one piece of text. Call under _lock."""
    espeak = _espeak()
    chunks, events = [], []

    def callback(wav, count, event_list) -> int:
        if count > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while event_list[i].type != espeak.EVENT_LIST_TERMINATED:
            event = event_list[i]
            if event.type == _PHONEME_EVENT:
                # The event's id field holds the mnemonic as up to 8 bytes, not a pointer.
                raw = ctypes.string_at(ctypes.addressof(event.id), 8).split(b"\0")[0]
                events.append((raw.decode("ascii", "replace"), int(event.sample)))
            i += 1
        return 0

    _engine["callback"] = callback  # keep it alive while the C side may call it
    espeak.SetSynthCallback(callback)
    if espeak.SetVoiceByName(config.espeak_voice.encode()) != espeak.EE_OK:
        raise ValueError(f"espeak-ng has no voice {config.espeak_voice!r}")
    espeak.SetParameter(espeak.RATE, int(config.rate), 0)
    espeak.SetParameter(espeak.PITCH, int(config.pitch), 0)
    espeak.Synth(text, flags=espeak.CHARS_AUTO)
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    return audio.astype(np.int16, copy=False), events


def split_text(text: str, max_chars: int) -> list[str]:
    """Sentences (and, inside over-long sentences, comma-separated parts) of at most max_chars."""
    pieces = []
    for sentence in _SENTENCE_END.split(text.strip()):
        while len(sentence) > max_chars:
            cut = sentence.rfind(",", 0, max_chars)
            cut = cut + 1 if cut > 0 else sentence.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            pieces.append(sentence)
    return pieces


def synthesize(text: str, config: SpeechConfig = SpeechConfig()) -> Speech:
    """Speak `text` (any Unicode; empty gives `config.silence` of silence) with the voice
    `config.voice`; the Speech keeps the text as written."""
    return join_speech(list(speak_sentences(text, config)), text or "")


def speak_sentences(text: str, config: SpeechConfig = SpeechConfig()) -> Iterator[Speech]:
    """`synthesize`, one sentence at a time as each is spoken (each timed from its own start,
    its text empty; `join_speech` of them all is `synthesize(text)`)."""
    from avatar.speech.voices import find_voice

    voice = find_voice(config.voice)
    words = spoken_words(text or "", config, voice.month_first)
    if voice.engine == "piper":
        from avatar.speech.piper import speak_sentences as piper_sentences

        yield from piper_sentences(words, voice.model, voice.config, silence=config.silence)
    else:
        yield from _espeak_sentences(words, config)


def spoken_words(text: str, config: SpeechConfig = SpeechConfig(), month_first: bool | None = None) -> str:
    """The words `config.voice` will say for `text` (`avatar voices read`); month_first: how it
    reads 3/4/2026 (default: as its language does)."""
    if not config.read_aloud:
        return text
    from avatar.speech.normalize import ReadingConfig, spoken_text
    from avatar.speech.voices import find_voice

    if month_first is None:
        month_first = find_voice(config.voice).month_first
    return spoken_text(text, ReadingConfig(month_first=month_first))


def _espeak_sentences(text: str, config: SpeechConfig) -> Iterator[Speech]:
    """espeak-ng's speech of `text`, a piece (`split_text`) at a time; the time before a piece's
    first phoneme is a pause."""
    pieces = split_text(text or "", config.max_sentence_chars)
    if not pieces:
        with _lock:
            rate = _espeak() and _engine["rate"]
        silence = np.zeros(round(config.silence * rate), np.int16)
        yield Speech(silence, rate, (Phoneme("_", 0.0, config.silence),), "")
        return
    for piece in pieces:
        with _lock:
            audio, starts = _synthesize_one(piece, config)
            rate = _engine["rate"]
        phonemes = []
        for i, (symbol, start) in enumerate(starts):
            end = starts[i + 1][1] if i + 1 < len(starts) else len(audio)
            if end > start:
                phonemes.append(Phoneme(symbol, start / rate, end / rate))
        if not phonemes:  # nothing sayable in it (punctuation only): its sound is a pause
            phonemes = [Phoneme("_", 0.0, len(audio) / rate)]
        elif phonemes[0].start > 0:
            phonemes.insert(0, Phoneme("_", 0.0, phonemes[0].start))
        yield Speech(audio, rate, tuple(phonemes), "")


def write_wav(speech: Speech, path: Path) -> Path:
    """16-bit mono WAV."""
    path = Path(path)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(speech.sample_rate)
        wav.writeframes(speech.audio.tobytes())
    return path
