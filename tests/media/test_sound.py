"""Finding the speech in a take's sound."""

import pytest

from avatar.media import normalize
from avatar.media.sound import PAD_AFTER_S, PAD_BEFORE_S, speech_span


def test_the_speech_of_a_take_is_found_between_its_quiet_stretches(spoken_take, tmp_path):
    take, start = spoken_take
    normal = normalize(take, tmp_path)
    found = speech_span(normal.audio)
    assert found is not None
    assert found[0] == pytest.approx(start - PAD_BEFORE_S, abs=0.1)
    assert found[1] == pytest.approx(start + 1.70 + PAD_AFTER_S, abs=0.15)


def test_a_steady_tone_or_silence_has_no_speech_to_trim_to(franck_clip, make_video, tmp_path):
    assert speech_span(normalize(franck_clip, tmp_path / "tone").audio) is None  # a 440 Hz tone throughout
    silent = make_video("quiet.mp4", seconds=2, audio=True, extra=["-af", "volume=0"])
    assert speech_span(normalize(silent, tmp_path / "silent").audio) is None
