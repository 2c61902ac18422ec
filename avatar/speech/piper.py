"""Neural speech with Piper voices (owns `piper`, which runs them on onnxruntime).

Piper reports, for every phoneme it speaks, how many audio samples it lasted (its alignment
output), and those counts add up to the audio: the timings are exact, no forced alignment is
needed. Its phonemes are IPA from espeak-ng's phonemiser; stress and length marks come back as
entries of their own and are merged into their neighbours here (a stress mark into the sound
after it, a length mark or a word gap into the one before), sentence starts, ends and
punctuation become pauses ("_"). A loaded voice is kept per file and used under a lock.
"""

from __future__ import annotations

import ctypes
import json
import threading
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np

from avatar.errors import UserError
from avatar.speech.types import Phoneme, Speech

BEFORE = {"ˈ", "ˌ"}  # stress marks: part of the sound that follows
AFTER = {"ː", "ˑ", "ʲ", "ʰ", "̃", " ", "‿", "-"}  # length, modifiers, word gaps: part of the sound before
PAUSES = {"^", "$", "_", ",", ".", "!", "?", ";", ":", "…", "—", "–"}
_locks: dict[Path, threading.Lock] = {}


def check_voice_files(model: Path, config: Path) -> dict:
    """The voice's config (its JSON) when `model` and `config` look like a Piper voice; raises
    UserError in one line otherwise (missing, not JSON, no phoneme table)."""
    model, config = Path(model), Path(config)
    for path in (model, config):
        if not path.is_file():
            raise UserError(f"The voice file {path} does not exist.")
    try:
        settings = json.loads(config.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UserError(f"{config.name} is not a Piper voice config (it is not JSON).") from None
    if not isinstance(settings, dict) or "phoneme_id_map" not in settings or "audio" not in settings:
        raise UserError(f"{config.name} is not a Piper voice config (it has no phoneme_id_map or audio section).")
    return settings


@lru_cache(maxsize=4)
def load_voice(model: Path, config: Path):
    """The Piper voice in `model` (.onnx) with its `config` (.onnx.json), loaded once per process:
    the ONNX file read and checked as every model is (`inference.session.read_model_file`), its
    phoneme lengths made an output (Piper's alignment patch), run by our own session (GPU when
    present; no memory arena, so a long sentence's memory is given back; threads that sleep
    rather than spin between ops). Raises UserError in one line for a damaged or foreign file."""
    from piper import PiperVoice
    from piper.config import PiperConfig
    from piper.patch_voice_with_alignment import add_alignment_output

    from avatar.inference.session import create_session, read_model_file

    settings = check_voice_files(model, config)
    graph = read_model_file(Path(model))
    try:
        add_alignment_output(graph)
    except ValueError as error:  # not a Piper voice (no phoneme lengths), or already patched
        if "already" not in str(error):
            raise UserError(f"{Path(model).name} is not a Piper voice: {error}") from None
    # The voice speaks while answers render on the same cores: its threads must not spin.
    session, _ = create_session(graph.SerializeToString(), Path(model).name, low_memory=True, spin=False)
    try:
        voice = PiperVoice(session=session, config=PiperConfig.from_dict(settings))
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"{Path(config).name} is not a Piper voice config ({error}).") from None
    _locks.setdefault(Path(model), threading.Lock())
    return voice


def merge_alignments(pairs: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """(phoneme, samples) pairs as Piper gives them, with stress and length marks, modifiers and
    word gaps merged into the sounds they belong to, and pauses as "_"; the samples' sum is kept."""
    merged: list[list] = []
    carry = 0  # samples of stress marks waiting for the sound they stress
    for symbol, samples in pairs:
        if symbol in PAUSES:
            symbol = "_"
        if symbol in BEFORE:
            carry += samples
            continue
        if symbol in AFTER and merged:
            merged[-1][1] += samples
            continue
        if symbol in AFTER:  # nothing before it: a short pause
            symbol = "_"
        if symbol == "_" and merged and merged[-1][0] == "_":
            merged[-1][1] += samples + carry
        else:
            merged.append([symbol, samples + carry])
        carry = 0
    if carry:
        if merged:
            merged[-1][1] += carry
        else:
            merged.append(["_", carry])
    return [(symbol, int(samples)) for symbol, samples in merged]


def speak_sentences(text: str, model: Path, config: Path, length_scale: float | None = None,
                    silence: float = 0.4) -> Iterator[Speech]:
    """`text` spoken by the Piper voice in `model` / `config`, one Speech per sentence as each is
    synthesised (an answer can start playing after its first): audio and IPA phonemes timed from
    the voice's own alignments, from the sentence's start (see the module docstring; a sentence's
    text is left empty: `types.join_speech` joins them under the text they say). The voice
    is held for one sentence at a time, so another answer's sentences can come in between.
    Empty text gives `silence` seconds of silence."""
    from piper import SynthesisConfig

    voice = load_voice(Path(model), Path(config))
    rate = int(voice.config.sample_rate)
    if not text.strip():
        yield Speech(np.zeros(round(silence * rate), np.int16), rate, (Phoneme("_", 0.0, silence),), text)
        return
    # No noise on the phonemes' lengths: the same text then always takes the same time, sound for
    # sound (Piper draws them at random otherwise, and an answer re-made elsewhere would not
    # match its mouths' plan, or its cached twin); the voice's own noise on the sound stays.
    settings = SynthesisConfig(length_scale=length_scale, noise_w_scale=0.0)
    sentences = voice.synthesize(text, settings, include_alignments=True)
    spoken = False
    try:
        while True:
            with _locks[Path(model)]:
                chunk = next(sentences, None)
            if chunk is None:
                break
            spoken = True
            yield _sentence(chunk, rate, Path(model).name)
        if not spoken:  # nothing in it to say (punctuation only)
            yield Speech(np.zeros(round(silence * rate), np.int16), rate, (Phoneme("_", 0.0, silence),), "")
    finally:
        sentences.close()
        _give_back_memory()


def _sentence(chunk, rate: int, name: str) -> Speech:
    """One of Piper's audio chunks (a sentence) as Speech, its phonemes timed from its start."""
    audio, alignments = chunk.audio_int16_array, chunk.phoneme_alignments
    if not alignments:  # the timings are what the mouth follows: never guess them
        raise UserError(f"The voice {name} gave no phoneme timings.")
    pairs = [(a.phoneme, int(a.num_samples)) for a in alignments]
    counted = sum(samples for _, samples in pairs)
    if counted != len(audio):  # never seen; keep the timings covering the audio
        pairs.append(("_", max(len(audio) - counted, 0)))
    phonemes, start = [], 0
    for symbol, samples in merge_alignments(pairs):
        if samples > 0:
            phonemes.append(Phoneme(symbol, start / rate, (start + samples) / rate))
        start += samples
    return Speech(np.asarray(audio, np.int16), rate, tuple(phonemes), "")


@lru_cache(maxsize=1)
def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to trim
        return None


def _give_back_memory() -> None:
    """A long sentence's activations are freed but kept in the process by glibc's allocator
    (measured: +150 MB after a 17 s answer, all of it returned by malloc_trim): hand them back."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
