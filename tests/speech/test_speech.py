import subprocess
import wave
from dataclasses import replace
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from avatar.speech import SpeechConfig, mouth_track, synthesize, viseme_of, write_wav
from avatar.speech.synth import split_text

ESPEAK = SpeechConfig(voice="espeak")  # most tests here are of espeak-ng's engine; test_voices.py has Piper's


def test_phonemes_cover_the_audio_in_order():
    speech = synthesize("Hello, what is a super computer?", ESPEAK)
    assert speech.audio.dtype == np.int16 and speech.sample_rate == 22050
    assert 1.0 < speech.duration < 4.0
    starts = [p.start for p in speech.phonemes]
    assert starts == sorted(starts) and speech.phonemes[0].start == 0
    assert speech.phonemes[-1].end == pytest.approx(speech.duration)
    symbols = [p.symbol for p in speech.phonemes]
    assert "h" in symbols and "oU" in symbols and "k" in symbols  # hello ... computer


def test_phoneme_timing_matches_the_sound():
    """Loud where a vowel is, near silent in the pause espeak reports after the comma."""
    speech = synthesize("Ah, ah", ESPEAK)
    rate = speech.sample_rate
    vowels = [p for p in speech.phonemes if viseme_of(p.symbol) == "open"]
    pauses = [p for p in speech.phonemes if p.symbol.startswith("_") and p.end - p.start > 0.08]
    assert vowels and pauses

    def loudness(p):
        part = speech.audio[int(p.start * rate):int(p.end * rate)].astype(float)
        return np.sqrt(np.mean(part**2))

    assert min(loudness(v) for v in vowels) > 10 * max(loudness(p) for p in pauses[:1])


@pytest.mark.parametrize("voice", ["espeak", "joe"])
def test_empty_unicode_and_long_text(voice):
    config = SpeechConfig(voice=voice)
    empty = synthesize("", config)
    assert empty.duration == pytest.approx(SpeechConfig().silence) and not empty.audio.any()
    assert synthesize("Café naïve — 你好, ça va?", config).duration > 1
    sentence = "This sentence is one of many in a long answer."
    one = synthesize(sentence, config)
    many = synthesize(" ".join([sentence] * 30), config)
    # Every sentence is spoken: 30 times the sounds (pauses between sentences differ by voice).
    def sounds(speech):
        return sum(p.symbol != "_" for p in speech.phonemes)
    assert sounds(many) == pytest.approx(30 * sounds(one), rel=0.02)
    assert many.duration == pytest.approx(30 * one.duration, rel=0.2)
    assert len(split_text(" ".join([sentence] * 30), 400)) == 30
    assert all(len(piece) <= 50 for piece in split_text("word, " * 100, 50))


def test_faster_rate_is_shorter_and_an_unknown_voice_is_refused():
    text = "The quick brown fox jumps over the lazy dog."
    assert synthesize(text, replace(ESPEAK, rate=250)).duration < 0.8 * synthesize(text, replace(ESPEAK, rate=150)).duration
    with pytest.raises(ValueError, match="no voice"):
        synthesize(text, replace(ESPEAK, espeak_voice="klingon-xx"))


@pytest.mark.parametrize("voice", ["espeak", "joe"])
def test_concurrent_synthesis_does_not_hang_or_mix_up(voice):
    texts = ["What is AI?", "What was the first computer?", "Do you know gossip?"] * 8
    config = SpeechConfig(voice=voice)
    expected = {t: synthesize(t, config) for t in set(texts)}
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda text: synthesize(text, config), texts))
    for text, speech in zip(texts, results):
        # espeak-ng's timing depends a little on the utterance before (up to ~0.1 s); the words do not.
        assert [p.symbol for p in speech.phonemes] == [p.symbol for p in expected[text].phonemes]
        assert speech.duration == pytest.approx(expected[text].duration, rel=0.1)
        assert speech.phonemes[-1].end == pytest.approx(speech.duration)


def test_wav_round_trip_and_plays_with_ffmpeg(tmp_path, ffmpeg):
    speech = synthesize("What is AI?")
    path = write_wav(speech, tmp_path / "a.wav")
    with wave.open(str(path)) as wav:
        assert wav.getframerate() == speech.sample_rate and wav.getnframes() == len(speech.audio)
    result = subprocess.run([ffmpeg, "-v", "error", "-i", path, "-f", "null", "-"], capture_output=True)
    assert result.returncode == 0 and not result.stderr


def test_mouth_closes_for_m_opens_for_a_and_rests_in_silence():
    speech = synthesize("mama papa", ESPEAK)
    track = mouth_track(speech.phonemes, speech.duration, 25)
    assert track.shape == (round(speech.duration * 25), 3)
    closed = [p for p in speech.phonemes if viseme_of(p.symbol) == "closed"]
    assert len(closed) == 4
    for p in closed:
        assert track[min(len(track) - 1, int((p.start + p.end) / 2 * 25)), 0] == 0  # a closed frame each
    assert track[:, 0].max() > 0.3  # the a's open wide
    silent = mouth_track(synthesize("", ESPEAK).phonemes, 0.4, 25)
    assert silent.shape == (10, 3) and silent[:, 0].max() < 0.05


def test_rounded_and_spread_sounds():
    speech = synthesize("oo ee", ESPEAK)
    track = mouth_track(speech.phonemes, speech.duration, 100)
    rounded = [p for p in speech.phonemes if viseme_of(p.symbol) == "round"][0]
    spread = [p for p in speech.phonemes if viseme_of(p.symbol) == "spread"][0]
    at = lambda p: track[int((p.start + p.end) / 2 * 100)]  # noqa: E731
    assert at(rounded)[2] > 0.5 > at(spread)[2]
    assert at(spread)[1] > at(rounded)[1]  # wider for ee
