"""The neural voice (Piper, offline) and the voice registry: real audio, timings that cover it,
mouth shapes read from its IPA, team voices added and removed, bad voice files refused."""

import shutil
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from avatar.cli import main
from avatar.errors import UserError
from avatar.speech import SpeechConfig, mouth_track, synthesize, viseme_of
from avatar.speech.piper import merge_alignments
from avatar.speech.voices import add_voice, all_voices, find_voice, remove_voice

JOE = SpeechConfig(voice="joe")


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AVATAR_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_the_neural_voice_speaks_offline_with_timings_that_cover_its_audio():
    speech = synthesize("Hello! We open at 9 am, and close at half past five.", JOE)
    rate = speech.sample_rate
    assert rate == 22050 and 2.5 < speech.duration < 8
    assert speech.phonemes[0].start == 0 and speech.phonemes[-1].end == pytest.approx(speech.duration)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(speech.phonemes, speech.phonemes[1:]))
    symbols = [p.symbol for p in speech.phonemes]
    assert not {"ˈ", "ˌ", "ː", " "} & set(symbols)  # marks merged into their sounds
    # The vowels are loud and the pauses quiet: the timings belong to this audio.
    def loudness(p):
        part = speech.audio[int(p.start * rate):int(p.end * rate)].astype(float)
        return np.sqrt(np.mean(part ** 2)) if len(part) else 0.0
    vowels = [p for p in speech.phonemes if viseme_of(p.symbol) in ("open", "mid", "round", "spread")]
    assert np.median([loudness(v) for v in vowels]) > 5 * loudness(speech.phonemes[0])
    # "9 am" was read aloud as "nine AM", the letters' names (not "nine a m"); the text is kept as written.
    assert "naɪneɪɛm" in "".join(p.symbol for p in speech.phonemes)
    assert speech.text.endswith("half past five.")


def test_the_same_text_always_takes_the_same_time_sound_for_sound():
    text = "Thank you for calling. Your parcel left our warehouse on Tuesday."
    first, again = synthesize(text, JOE), synthesize(text, JOE)
    assert first.duration == again.duration and first.phonemes == again.phonemes


def test_ipa_phonemes_give_the_mouth_shapes_of_their_sounds():
    assert [viseme_of(s) for s in ("p", "m", "f", "ʊ", "ɔ", "æ", "ʌ", "ɪ", "ə", "ʃ", "tʃ", "ɹ", "ˈa")] == [
        "closed", "closed", "lip_teeth", "round", "round", "open", "open", "spread", "mid", "pucker", "pucker",
        "narrow", "open"]
    speech = synthesize("Bob made a map of the moon.", JOE)
    track = mouth_track(speech.phonemes, speech.duration, 25)
    closures = [p for p in speech.phonemes if viseme_of(p.symbol) == "closed"]
    assert len(closures) >= 5
    for p in closures:  # every p/b/m closes the lips in its frame
        assert track[min(len(track) - 1, int((p.start + p.end) / 2 * 25)), 0] < 0.01


def test_stress_and_length_marks_merge_into_their_sounds():
    merged = merge_alignments([("^", 100), ("h", 50), ("ˈ", 30), ("a", 200), ("ː", 40), (" ", 20), ("!", 60), ("$", 90)])
    assert merged == [("_", 100), ("h", 50), ("a", 290), ("_", 150)]
    assert sum(n for _, n in merged) == 590


def test_voices_list_read_and_the_default(own_cache):
    runner = CliRunner()
    listed = runner.invoke(main, ["voices", "list"])
    assert listed.exit_code == 0 and "joe" in listed.output and "espeak" in listed.output
    assert "* " + SpeechConfig().voice in listed.output
    read = runner.invoke(main, ["voices", "read", "Call 0800 123 4567 or pay £3.95 by 9 am"])
    assert read.exit_code == 0
    assert read.output.strip() == ("Call zero eight zero zero, one two three, four five six seven or pay three "
                                   "pounds and ninety-five pence by nine AM")


def test_a_team_voice_is_added_spoken_and_removed(own_cache):
    joe = find_voice("joe")
    model, config = own_cache / "ours.onnx", own_cache / "ours.onnx.json"
    shutil.copyfile(joe.model, model)
    shutil.copyfile(joe.config, config)
    with pytest.raises(UserError, match="licence"):
        add_voice("ours", model, config, "", "")
    voice = add_voice("ours", model, config, "CC0", "our own recordings")
    assert voice.language == "en_US" and "ours" in all_voices()
    assert synthesize("Thank you.", SpeechConfig(voice="ours")).duration > 0.3
    with pytest.raises(UserError, match="already"):
        add_voice("ours", model, config, "CC0", "again")
    with pytest.raises(UserError, match="cannot be removed"):
        remove_voice("joe")
    remove_voice("ours")
    assert "ours" not in all_voices()


def test_an_unknown_or_damaged_voice_is_refused_in_one_line(own_cache):
    with pytest.raises(UserError, match="no voice 'nobody'") as unknown:
        synthesize("Hello.", SpeechConfig(voice="nobody"))
    assert "\n" not in str(unknown.value)
    joe = find_voice("joe")
    damaged, config = own_cache / "bad.onnx", own_cache / "bad.onnx.json"
    damaged.write_bytes(joe.model.read_bytes()[:200_000])  # cut short, as a failed download is
    shutil.copyfile(joe.config, config)
    for model, conf in ((damaged, config), (own_cache / "none.onnx", config), (config, config)):
        with pytest.raises(UserError) as refused:
            add_voice("bad", model, conf, "CC0", "test")
        assert "\n" not in str(refused.value)
    not_json = own_cache / "text.onnx.json"
    not_json.write_text("this is not json")
    with pytest.raises(UserError, match="not a Piper voice config"):
        add_voice("bad", joe.model, not_json, "CC0", "test")
    result = CliRunner().invoke(main, ["voices", "add", "bad", str(damaged), "--licence", "CC0", "--source", "x"])
    assert result.exit_code != 0 and len(result.output.strip().splitlines()) == 1
    assert "bad" not in all_voices()


@pytest.mark.parametrize("voice", ["joe", "espeak"])
def test_an_answer_is_spoken_a_sentence_at_a_time_and_joins_into_the_whole(voice):
    from avatar.speech import speak_sentences
    from avatar.speech.types import join_speech

    config = SpeechConfig(voice=voice)
    text = "Thank you for calling. Your parcel left on Tuesday! Is there anything else?"
    pieces = list(speak_sentences(text, config))
    assert len(pieces) == 3
    for piece in pieces:  # each sentence's timings cover its own sound
        assert piece.phonemes[0].start == 0 and piece.phonemes[-1].end == pytest.approx(piece.duration)
    whole, joined = synthesize(text, config), join_speech(pieces, text)
    assert joined.duration == pytest.approx(whole.duration, abs=0.01) and joined.text == whole.text == text
    assert [p.symbol for p in joined.phonemes] == [p.symbol for p in whole.phonemes]
    assert joined.phonemes[-1].end == pytest.approx(joined.duration)
    # A pause ending one sentence and the one starting the next are one pause.
    symbols = [p.symbol for p in joined.phonemes]
    assert all(not (a == b == "_") for a, b in zip(symbols, symbols[1:]))
    with pytest.raises(ValueError, match="Hz"):
        join_speech([pieces[0], replace(pieces[1], sample_rate=16000)], text)
