"""How much a mouth moves, and whether it follows its own sound."""

import numpy as np
import pytest

from avatar.metrics.articulation import lagged_r, mouth_spread, sound_envelope, talking_spread
from avatar.speech import SpeechConfig, mouth_track, synthesize


def test_spread_ignores_a_stray_frame_and_talking_is_read_from_the_lively_windows():
    rng = np.random.default_rng(0)
    listening = rng.normal(0.02, 0.003, 600)
    talking = 0.15 + 0.1 * np.sin(np.arange(200) / 2)  # opens and closes about 4 times a second
    assert mouth_spread(np.r_[listening[:100], 0.9]) < 0.02  # one bad landmark frame is not movement
    footage = np.r_[listening, talking]  # a conversation: mostly listening
    assert talking_spread(footage, 50) == pytest.approx(mouth_spread(talking), rel=0.1)
    assert talking_spread(footage, 50) > 5 * mouth_spread(footage[:600])
    assert talking_spread(footage[:60], 50) == mouth_spread(footage[:60])  # too short to rank windows


@pytest.mark.parametrize("voice", ["espeak", "joe"])
def test_the_mouth_targets_of_real_speech_follow_its_loudness_a_little_ahead(voice):
    rs = []
    for text in ("Good morning, my name is Anna and I will help you with your order today.",
                 "Thank you for calling. Your parcel left our warehouse on Tuesday, so it should reach you soon.",
                 "Many people ask about the weather in the mountains, but honestly it changes every hour."):
        speech = synthesize(text, SpeechConfig(voice=voice))
        fps = 25.0
        frames = int(round(speech.duration * fps))
        loudness = sound_envelope(speech.audio, speech.sample_rate, fps, frames)
        assert loudness.shape == (frames,) and loudness.max() > 500 and loudness.min() < loudness.max() / 10
        targets = mouth_track(speech.phonemes, frames / fps, fps)[:, 0].astype(np.float64)
        r, lag = lagged_r(targets, loudness)
        assert abs(lag) <= 2
        rs.append(r)
    assert np.mean(rs) > 0.35, rs
    # Unrelated movement does not follow it; frames without a face are left out, not counted as closed.
    assert lagged_r(np.random.default_rng(1).random(frames), loudness)[0] < 0.3
    gappy = targets.copy()
    gappy[::7] = np.nan
    assert lagged_r(gappy, loudness)[0] == pytest.approx(r, abs=0.05)
