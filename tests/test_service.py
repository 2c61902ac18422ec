import numpy as np
import pytest

from avatar.chat import train_corpus
from avatar.driver import RecordedClips
from avatar.media import iter_frames, probe
from avatar.provenance.credentials import TRAINED_ALGORITHMIC_MEDIA, read_credentials
from avatar.service import Avatar


@pytest.fixture(scope="module")
def avatar(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("service")
    db = f"sqlite:///{root / 'chat.sqlite3'}"
    train_corpus(db)
    return Avatar(model=tiny_model, clips=root / "clips", chat_db=db, cache=root / "answers")


def test_respond_renders_a_labelled_answer_as_long_as_its_speech(avatar):
    stages = []
    answer = avatar.respond("What is AI?", progress=lambda share, stage: stages.append(stage))
    assert answer.text.startswith("Artificial Intelligence") and answer.driver == "synthesised"
    assert not answer.cached and {"chat", "speech", "driver", "swap", "composite", "encode"} <= set(answer.seconds)
    info = probe(answer.video)
    assert info.codec == "h264" and info.audio_codec == "aac"
    assert info.duration == pytest.approx(answer.duration, abs=1 / info.fps + 0.01)
    assert stages[0] == "speech" and stages[-1] == "done"
    frame = next(iter_frames(answer.video)).rgb
    corner = frame[-30:, -90:].astype(int)
    assert corner.mean() < 90 and corner.max() > 200  # the dark "AI-generated" badge with white text
    credentials = read_credentials(answer.video)
    assert credentials.state == "Trusted" and credentials.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert credentials.presenter["model"] == avatar.model_path.parent.name
    again = avatar.respond("what is ai")
    assert again.cached and again.video == answer.video


def test_a_recorded_answer_is_used_instead_of_synthesis(avatar, make_video):
    clips = RecordedClips(avatar.clips.root)
    clips.save("Hi", make_video("hi.mp4", seconds=2, audio=True))
    answer = avatar.say("Hi")
    assert answer.driver == "recorded" and answer.duration == pytest.approx(2.0, abs=0.05)
    info = probe(answer.video)
    assert info.frames == 50 and info.has_audio


def test_label_is_on_every_rendered_frame(avatar):
    answer = avatar.say("Hello there, nice to meet you.")
    corners = [f.rgb[-30:, -90:].astype(int) for f in iter_frames(answer.video, every=10)]
    assert all(c.mean() < 90 and c.max() > 200 for c in corners)
    assert np.isfinite(answer.duration)


def test_dialogue_export_has_cards_answers_sound_and_subtitles(avatar, tmp_path):
    questions = ["What is AI?", "What was the first computer?"]
    exchanges = [(q, avatar.chatbot.reply(q).text) for q in questions]
    video, srt = avatar.export_dialogue(exchanges, tmp_path / "dialogue.mp4")
    answers = [avatar.say(reply) for _, reply in exchanges]
    info = probe(video)
    expected = sum(2.0 + a.duration for a in answers)
    assert info.has_audio and info.duration == pytest.approx(expected, abs=0.2)
    first = next(iter_frames(video)).rgb
    assert first.mean() < 60  # the dark title card opens the video
    text = srt.read_text()
    assert "Q: What is AI?" in text and "ENIAC" in text and text.count("-->") == 4
    assert read_credentials(video).ingredients == [a.video.name for a in answers]
    with pytest.raises(Exception, match="nothing to export"):
        avatar.export_dialogue([], tmp_path / "empty.mp4")
