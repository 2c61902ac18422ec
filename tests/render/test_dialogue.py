"""A dialogue exported as one video with subtitles people can read."""

import pytest

from avatar.media import probe
from avatar.render.dialogue import Turn, export_dialogue


def _cues(srt: str) -> list[tuple[float, float, list[str]]]:
    def seconds(stamp: str) -> float:
        h, m, rest = stamp.split(":")
        s, ms = rest.split(",")
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    cues = []
    for block in srt.strip().split("\n\n"):
        _, times, *lines = block.split("\n")
        start, end = times.split(" --> ")
        cues.append((seconds(start), seconds(end), lines))
    return cues


def test_a_long_question_stays_up_long_enough_to_read(franck_clip, tmp_path):
    long_question = " ".join(["Could you tell me whether my parcel, which I ordered last week for my sister's birthday,"
                              " will arrive before Saturday?"] * 4)  # about 460 characters
    turns = [Turn("Where is my order?", "It is on its way.", franck_clip),
             Turn(long_question, "It will arrive on Friday.", franck_clip)]
    video, srt = export_dialogue(turns, tmp_path / "dialogue.mp4", 320, 240, 25.0)
    cues = _cues(srt.read_text())
    assert all(end - start >= 0.99 for start, end, _ in cues), [round(e - s, 2) for s, e, _ in cues]
    assert all(len(lines) <= 2 and all(len(line) <= 42 for line in lines) for _, _, lines in cues)
    question_cues = [c for c in cues if c[0] >= 4.0 and c[1] <= cues[-1][0]]  # the second card's cues
    assert len(question_cues) >= 5  # the long question is all there, in readable pieces
    card = len(question_cues) * 1.0
    assert probe(video).duration == pytest.approx(2.0 + 2.0 + card + 2.0, abs=0.15)
