import collections
import contextlib
import json
import shutil

import numpy as np
import pytest

from avatar.chat import ENGLISH, train_corpus
from avatar.chat.bot import CLARIFY, TEAM_FALLBACK
from avatar.config import Deployment
from avatar.errors import UserError
from avatar.media import iter_frames, probe
from avatar.provenance.credentials import TRAINED_ALGORITHMIC_MEDIA, read_credentials
from avatar.service import STUDY_QUESTIONS, Avatar, ServeConfig
from avatar.presenter import write_record
from tests.streams import read_to_end


@pytest.fixture(scope="module")
def chat_db(tmp_path_factory):
    db = f"sqlite:///{tmp_path_factory.mktemp('chat') / 'chat.sqlite3'}"
    train_corpus(db)
    return db


@pytest.fixture(scope="module")
def avatar(tiny_model, consent_file, chat_db, tmp_path_factory):
    root = tmp_path_factory.mktemp("service")
    model = root / "models" / "tiny"
    shutil.copytree(tiny_model, model)
    shutil.copy(consent_file, model / "consent.json")
    write_record(model)  # the consent is believed only when sealed
    return Avatar(model=model, chat_db=chat_db, deploy=Deployment(root=root))


def test_respond_renders_a_labelled_answer_as_long_as_its_speech(avatar):
    stages = []
    # The shipped demo FAQ answers until an operator chooses a corpus.
    answer = avatar.respond("What's your phone number?", session="s1", progress=lambda share, stage: stages.append(stage))
    assert answer.text.startswith("You can call us free") and answer.driver == "synthesised"
    assert not answer.cached and {"chat", "speech", "driver", "swap", "composite", "encode", "sign"} <= set(answer.seconds)
    info = probe(answer.video)
    assert info.codec == "h264" and info.audio_codec == "aac"
    assert info.duration == pytest.approx(answer.duration, abs=1 / info.fps + 0.01)
    assert stages[0] == "speech" and stages[-1] == "done"
    frame = next(iter_frames(answer.video)).rgb
    corner = frame[-30:, -90:].astype(int)
    assert corner.mean() < 90 and corner.max() > 200  # the dark "AI-generated" badge with white text
    credentials = read_credentials(answer.video)
    assert credentials.state == "Trusted" and credentials.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert credentials.presenter["model"] == "tiny"
    # The voice that spoke is named and said to be synthetic, in the video and in About.
    assert credentials.voice["name"] == "joe" and credentials.voice["synthetic"] is True
    assert "lessac" in credentials.voice["licence"] and avatar.about(None)["voice"]["name"] == "joe"
    again = avatar.respond("what is your phone number", session="s1")
    assert again.cached and again.video == answer.video


def test_a_recording_is_used_only_for_its_owner_until_published(avatar, franck_clip):
    avatar.record("alice", "Hi", franck_clip)
    mine, theirs = avatar.say("Hi", owner="alice"), avatar.say("Hi", owner="bob")
    assert mine.driver == "recorded" and mine.duration == pytest.approx(2.0, abs=0.05)
    assert probe(mine.video).has_audio
    assert theirs.driver == "synthesised" and theirs.video != mine.video
    avatar.people.publish("alice", "Hi")
    assert avatar.say("Hi", owner="bob").driver == "recorded"
    assert avatar.people.unpublish("Hi") is not None and avatar.say("Hi", owner="bob").driver == "synthesised"
    with pytest.raises(UserError, match="only your own recordings"):
        avatar.people.publish("bob", "Hi")


def test_deleting_a_recording_deletes_the_answers_rendered_from_it(avatar, franck_clip):
    avatar.record("carol", "See you soon", franck_clip)
    answer = avatar.say("See you soon", owner="carol")
    silent_voice = avatar.say("See you soon", owner="carol", recorded_voice=False)
    assert answer.video.is_file() and silent_voice.video.is_file() and answer.video != silent_voice.video
    deleted = avatar.people.forget("carol", "See you soon")
    assert sorted(deleted) == sorted([answer.video.name, silent_voice.video.name])
    assert not answer.video.exists() and not silent_voice.video.exists()
    assert avatar.store.answer(answer.video.stem) is None
    assert avatar.say("See you soon", owner="carol").driver == "synthesised"
    assert avatar.people.forget("carol", "See you soon") is None


def test_a_recording_whose_face_cannot_be_swapped_is_refused_at_upload(avatar, small_face_clip, make_video):
    with pytest.raises(UserError, match="cannot be put into this recording") as refused:
        avatar.record("dave", "Hello there", small_face_clip)
    assert "in a 88x72 recording the face must be at least 40 pixels wide" in str(refused.value)  # stated once
    with pytest.raises(UserError, match="cannot be put into this recording"):
        avatar.record("dave", "Hello there", make_video("no-face.mp4", seconds=2, audio=True))
    assert avatar.people.clips("dave").all() == []


def test_an_operator_chooses_a_presenters_voice_and_his_answers_follow_it(avatar):
    assert avatar.presenter_voice("tiny") == "joe" and avatar.voice_choices()[0] == (
        "joe: neural voice, en_US (default)", "joe")
    first = avatar.say("Thank you for waiting.")
    avatar.choose_voice("tiny", "espeak")
    try:
        again = avatar.say("Thank you for waiting.")
        assert not again.cached and again.video != first.video  # another voice: another answer
        assert read_credentials(again.video).voice["name"] == "espeak"
        assert avatar.about(None)["voice"]["name"] == "espeak"
        with pytest.raises(UserError, match="no voice 'nobody'"):
            avatar.choose_voice("tiny", "nobody")
        with pytest.raises(UserError, match="no presenter model"):
            avatar.choose_voice("someone-else", "espeak")
    finally:
        avatar.choose_voice("tiny", "joe")
    assert avatar.say("Thank you for waiting.").cached  # back to joe: his answer was kept


def test_a_presenter_drawn_by_the_swap_has_no_listening_loop(avatar):
    assert avatar.idle() is None


def test_label_is_on_every_rendered_frame(avatar):
    answer = avatar.say("Hello there, nice to meet you.")
    corners = [f.rgb[-30:, -90:].astype(int) for f in iter_frames(answer.video, every=10)]
    assert all(c.mean() < 90 and c.max() > 200 for c in corners)
    assert np.isfinite(answer.duration)


def test_messages_and_answers_are_bounded_before_any_work(avatar):
    limit = ServeConfig().max_message
    with pytest.raises(UserError, match=f"at most {limit}"):
        avatar.reply("x" * (limit + 1), "s-long")
    with pytest.raises(UserError, match="at most"):
        avatar.respond("a" * 1_000_000, "s-long")
    with pytest.raises(UserError, match="says at most"):
        avatar.say("word " * 1000)
    assert avatar.history("s-long") == []


def test_history_is_bounded_and_freed_when_the_session_ends(tiny_model, chat_db, tmp_path):
    avatar = Avatar(model=tiny_model, chat_db=chat_db, deploy=Deployment(root=tmp_path),
                    config=ServeConfig(history=3, sessions=2))
    for i in range(5):
        avatar.reply(f"Hello {i}", "a")
    assert [q for q, _ in avatar.history("a")] == ["Hello 2", "Hello 3", "Hello 4"]
    avatar.reply("Hi", "b")
    avatar.reply("Hi", "c")  # a third session: the least recently active one (a) is dropped
    assert avatar.history("a") == [] and avatar.store.session_count() == 2
    avatar.end_session("b")
    assert avatar.history("b") == [] and avatar.store.session_count() == 1


def test_a_model_whose_bytes_changed_is_refused(tiny_model, chat_db, tmp_path):
    tampered = tmp_path / "models" / "tiny"
    shutil.copytree(tiny_model, tampered)
    data = bytearray((tampered / "model.onnx").read_bytes())
    data[-200:-136] = bytes(64)  # 64 bytes of weights zeroed
    (tampered / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(UserError, match="changed after it was exported"):
        Avatar(model=tampered, chat_db=chat_db, deploy=Deployment(root=tmp_path))
    (tampered / "presenter.json").unlink()
    with pytest.raises(UserError, match="no integrity record"):
        Avatar(model=tampered, chat_db=chat_db, deploy=Deployment(root=tmp_path))


def test_an_identical_reply_plays_again_and_unknown_names_are_refused(avatar):
    first = avatar.respond("qwzx blorp", session="s2")
    second = avatar.respond("zzkv flim", session="s2")
    assert first.text == second.text and second.video == first.video and second.video.is_file()
    with pytest.raises(UserError, match="no presenter model called"):
        avatar.say("Hello", model="../../models/presenter-interim")
    # What an API caller can send instead of text gets a clear refusal, not "something went wrong".
    with pytest.raises(UserError, match="a presenter is chosen by its name, not by a list"):
        avatar.say("Hello", model=["presenter-default", "x"])
    with pytest.raises(UserError, match="expected text, not a dict"):
        avatar.play({"text": "Hello"})
    with pytest.raises(UserError, match="no framing called"):
        avatar.say("Hello", framing=["own"])


def test_a_message_is_one_call_and_a_video_problem_keeps_the_reply(avatar):
    """The page's one call per message: the reply and the presenter saying it; when the video
    cannot be made (here: a presenter that does not exist) the reply comes back with the reason."""
    import time

    from avatar.serving.live import LiveAnswer

    exchange = avatar.converse("What's your phone number?", session="s-one-call")
    assert exchange.reply.text.startswith("You can call us free") and exchange.problem is None
    assert exchange.answer is not None and exchange.listening is None  # the tiny swap model has no loop
    if isinstance(exchange.answer, LiveAnswer):  # rendering in the background: seen to its end
        with exchange.answer.following():
            deadline = time.monotonic() + 120
            while not exchange.answer.done and time.monotonic() < deadline:
                time.sleep(0.05)
        assert exchange.answer.answer is not None
    refused = avatar.converse("What's your phone number?", session="s-one-call", model="nobody-here")
    assert refused.reply.text == exchange.reply.text and refused.answer is None
    assert "no presenter model called" in refused.problem
    assert [reply for _, reply in avatar.history("s-one-call")] == [exchange.reply.text] * 2
    with pytest.raises(UserError):  # what the chat itself refuses is still a refusal
        avatar.converse("x" * 5000, session="s-one-call")


def test_dialogue_export_uses_the_sessions_own_history(avatar, tmp_path):
    session = "s-export"
    for question in ["What is your phone number?", "What is your email address?"]:
        avatar.reply(question, session)
    video, srt = avatar.export(session, tmp_path / "dialogue.mp4")
    answers = [avatar.say(reply) for _, reply in avatar.history(session)]
    info = probe(video)
    expected = sum(2.0 + a.duration for a in answers)
    assert info.has_audio and info.duration == pytest.approx(expected, abs=0.2)
    first = next(iter_frames(video)).rgb
    assert first.mean() < 60  # the dark title card opens the video
    assert first[-30:, -90:].max() > 200  # and carries the AI-generated label
    text = srt.read_text()
    assert "Q: What is your phone number?" in text and "juniperandco" in text
    cues = [block.split("\n", 2)[2] for block in text.strip().split("\n\n")]
    assert all(len(cue.split("\n")) <= 2 and max(map(len, cue.split("\n"))) <= 42 for cue in cues)
    assert read_credentials(video).ingredients == [a.video.name for a in answers]
    with pytest.raises(UserError, match="nothing to export"):
        avatar.export("s-empty", tmp_path / "empty.mp4")


def test_adapting_writes_the_recording_persons_consent(avatar, franck_clip):
    avatar.record("erin", "Good morning", franck_clip)
    avatar.record("erin", "Good evening", franck_clip)  # the same video: counted once
    job = avatar.adaptation("erin")
    assert len(job.usable_clips()) == 1 and job.recorded_seconds() == pytest.approx(2.0, abs=0.05)
    with pytest.raises(UserError, match="write your name"):
        avatar.adapt("erin", "  ")
    with pytest.raises(UserError, match="at least 20 s"):
        avatar.adapt("erin", "Erin Example")
    assert not (job.work / "adaptation-consent.json").exists()
    assert avatar.adaptation("frank").clips.owner != job.clips.owner  # another person's job, recordings
    assert json.loads(json.dumps(avatar.about(None)))["name"] == "tiny"


def test_an_adapted_presenter_published_by_one_replica_is_offered_to_its_owner_by_another(
        tiny_model, consent_file, chat_db, tmp_path):
    shared = {"db": f"sqlite:///{tmp_path / 'shared.sqlite3'}", "storage": str(tmp_path / "media")}
    one = Avatar(model=tiny_model, chat_db=chat_db, deploy=Deployment(root=tmp_path / "one", **shared))
    other = Avatar(model=tiny_model, chat_db=chat_db, deploy=Deployment(root=tmp_path / "two", **shared))
    adapted = tmp_path / "trained" / "tiny-adapted-20261203-120000"
    shutil.copytree(tiny_model, adapted)
    shutil.copy(consent_file, adapted / "consent.json")
    write_record(adapted)  # the consent is believed only when sealed
    one.publish_adapted("erin", adapted)
    assert "tiny-adapted-20261203-120000" in other.models("erin")
    assert "tiny-adapted-20261203-120000" not in other.models("frank")
    presenter, _ = other.presenter("tiny-adapted-20261203-120000", "erin")
    assert presenter.folder.is_relative_to(tmp_path / "media")
    with pytest.raises(UserError, match="no presenter model called"):
        other.presenter("tiny-adapted-20261203-120000", "frank")


def _adapted_copy(tiny_model, consent_file, folder):
    """`folder`: a sealed copy of the tiny presenter, as an adaptation exports it."""
    shutil.copytree(tiny_model, folder)
    shutil.copy(consent_file, folder / "consent.json")
    write_record(folder)
    return folder


def test_an_adaptation_trained_here_is_reported_and_listed_through_the_database(tiny_model, consent_file, chat_db,
                                                                                tmp_path):
    from types import SimpleNamespace

    from avatar.adaptation import AdaptStatus
    from avatar.service import owner_key

    avatar = Avatar(model=tiny_model, chat_db=chat_db, deploy=Deployment(root=tmp_path / "cache"))
    adapted = _adapted_copy(tiny_model, consent_file, tmp_path / "work" / "adapted" / "tiny-adapted-20261203-120000")
    states = iter([AdaptStatus("training", "Training: step 1 of 2.", 0.5),
                   AdaptStatus("done", "Adapted.", 1.0, adapted)])
    job = SimpleNamespace(base=avatar.default_model, status=lambda: next(states), wait=lambda timeout: next(states))
    assert avatar.adapted.report(owner_key("erin"), job).state == "done"
    row = avatar.store.adaptation(owner_key("erin"), avatar.default_model.name)
    assert row["state"] == "done" and row["model"] == adapted.name
    stored = (tmp_path / "cache" / "models" / owner_key("erin") / adapted.name).resolve()
    assert avatar.models("erin")[adapted.name] == stored and not adapted.exists()  # moved into media storage
    status = avatar.adaptation_status("erin")
    assert status.state == "done" and status.model == stored
    # The database is the one list: a folder that merely sits where adapted presenters are kept is not offered.
    _adapted_copy(tiny_model, consent_file, stored.parent / "tiny-unlisted")
    assert "tiny-unlisted" not in avatar.models("erin")


def test_presenters_adapted_by_an_earlier_version_are_listed_in_the_database_at_start(tiny_model, consent_file,
                                                                                      chat_db, tmp_path):
    from avatar.service import owner_key

    kept = _adapted_copy(tiny_model, consent_file, tmp_path / "cache" / "models" / owner_key("erin") / "tiny-adapted-1")
    avatar = Avatar(model=tiny_model, chat_db=chat_db, deploy=Deployment(root=tmp_path / "cache"))
    assert [row["name"] for row in avatar.store.presenters_of(owner_key("erin"))] == ["tiny-adapted-1"]
    assert avatar.models("erin")["tiny-adapted-1"] == kept.resolve() and "tiny-adapted-1" not in avatar.models("frank")


def test_the_service_is_built_from_its_deployment(tiny_model, tmp_path):
    from avatar.service import open_service

    avatar = open_service(Deployment(root=tmp_path, model=tiny_model, max_recording=12.0, adapt_steps=8))
    assert avatar.default_model == tiny_model.resolve() and avatar.queue is None
    assert avatar.config.max_recording == 12.0 and avatar.adapted.config.steps == 8
    assert avatar.adapted.config.checkpoint_every == 4


def test_the_shipped_presenter_answers_from_his_own_frames_and_says_so(chat_db, tmp_path, franck_clip):
    from avatar.presenter import DEFAULT_MODEL

    avatar = Avatar(model=DEFAULT_MODEL, chat_db=chat_db, deploy=Deployment(root=tmp_path))
    facts = avatar.about(None)
    assert facts["renderer"] == "exemplar" and "his own recorded video" in facts["drawing"]
    idle = avatar.idle()  # he listens between answers: his own frames, looped, labelled and signed
    assert probe(idle).frames > 50 and not probe(idle).has_audio and avatar.idle() == idle
    assert read_credentials(idle).state == "Trusted"
    answer = avatar.say("Thank you for your patience.")
    info = probe(answer.video)
    assert (info.width, info.height) == (400, 300) and info.audio_codec == "aac"  # his own scene
    credentials = read_credentials(answer.video)
    assert credentials.state == "Trusted" and credentials.presenter["renderer"].startswith("exemplar renderer")
    assert credentials.presenter["library_sha256"] == avatar.presenter(None)[0].files["library/frames.mp4"][:16]
    # A recorded answer in either framing, as a person chooses: his room, or the recording's frame;
    # the choice is offered once there is a recorded answer to frame (his, or one published).
    assert not avatar.framing_matters(None, "frank") and not avatar.framing_matters(None, "anyone")
    avatar.record("frank", "Hello there", franck_clip)
    assert avatar.framing_matters(None, "frank") and not avatar.framing_matters(None, "anyone")
    own, into = (avatar.say("Hello there", owner="frank", framing=f) for f in ("own", "driver"))
    assert own.driver == into.driver == "recorded" and own.video != into.video
    assert probe(own.video).width == 400 and probe(into.video).width == probe(franck_clip).width
    with pytest.raises(UserError, match="no framing called 'sideways'"):
        avatar.say("Hello there", owner="frank", framing="sideways")
    # The same text with the swap renderer is another answer (the renderer is part of its key).
    from avatar.config import RenderConfig

    swap = Avatar(model=DEFAULT_MODEL, chat_db=chat_db, deploy=Deployment(root=tmp_path), render=RenderConfig(renderer="swap"))
    assert swap.about(None)["renderer"] == "swap"
    other = swap.say("Thank you for your patience.")
    assert not other.cached and probe(other.video).width == 360


def test_cached_answers_carry_only_their_own_presenters_credentials(tiny_model, consent_file, chat_db, tmp_path,
                                                                    monkeypatch):
    """Two presenters with the same network but different consent records never share an answer."""
    monkeypatch.setenv("AVATAR_CACHE", str(tmp_path / "cache"))
    default = tmp_path / "models" / "tiny"
    shutil.copytree(tiny_model, default)
    shutil.copy(consent_file, default / "consent.json")
    write_record(default)
    other = tmp_path / "cache" / "models" / "installed" / "tiny-other"
    shutil.copytree(default, other)
    consent = json.loads(consent_file.read_text())
    (other / "consent.json").write_text(json.dumps({**consent, "person": "Another Person"}))
    avatar = Avatar(model=default, chat_db=chat_db, deploy=Deployment(root=tmp_path / "cache"))
    with pytest.raises(UserError, match="changed after it was sealed"):  # edited by hand: refused
        avatar.say("Hello", model="tiny-other")
    write_record(other)  # sealed by whoever installed it: another presenter, not the default one
    mine, theirs = avatar.say("Hello"), avatar.say("Hello", model="tiny-other")
    assert not theirs.cached and mine.video != theirs.video
    for answer, model, person in ((mine, "tiny", "Test Person"), (theirs, "tiny-other", "Another Person")):
        credentials = read_credentials(answer.video)
        assert credentials.presenter["model"] == model and credentials.presenter["consent"]["person"] == person


def test_a_recording_far_longer_than_its_line_is_refused_before_any_check(avatar, long_clip):
    assert avatar.config.recording_limit("Hi") == 12 and avatar.config.recording_limit("word " * 100) == 60
    with pytest.raises(UserError, match=r"is too long: 21\.\d s, the limit is 12\.0 s"):
        avatar.record("gina", "Hi", long_clip)
    assert avatar.people.recording("gina", "Hi") is None


def test_temporary_files_live_under_the_cache_and_a_killed_processs_are_swept_at_start(
        tiny_model, chat_db, tmp_path, monkeypatch):
    import os
    import tempfile
    import time

    monkeypatch.setenv("AVATAR_CACHE", str(tmp_path / "cache"))
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    left = tmp_path / "cache" / "tmp" / "avatar-answer-killed"
    left.mkdir(parents=True)
    (left / "speech.wav").write_bytes(bytes(1000))
    os.utime(left, (time.time() - 7200,) * 2)
    fresh = tmp_path / "cache" / "tmp" / "avatar-answer-another-process"
    fresh.mkdir()
    avatar = Avatar(model=tiny_model, chat_db=chat_db, deploy=Deployment(root=tmp_path / "cache"))
    assert not left.exists() and fresh.exists()  # another process's work in progress is left alone
    seen = []
    avatar.say("Hello there.", progress=lambda share, stage: seen.append(
        sorted(path.name for path in (tmp_path / "cache" / "tmp").rglob("*"))))  # in this process's own folder
    assert any(any(name.startswith("avatar-answer-") and name != fresh.name for name in names) for names in seen)
    assert list(system_tmp.iterdir()) == []  # nothing of a render in the system's temp folder


def test_a_take_is_fitted_to_its_line_never_cutting_the_synthesised_speech(avatar, spoken_take):
    from avatar.speech import synthesize

    take, _ = spoken_take
    line = "Our shop on Mill Street is open from nine until six, every day but Sunday."
    clip = avatar.record("tess", line, take)
    assert clip.trimmed > 2.5  # the quiet around the words is not kept
    speech = synthesize(line).duration
    assert speech > clip.duration + 1  # the line, synthesised, is longer than the take
    synthesised = avatar.say(line, owner="tess", recorded_voice=False)
    info = probe(synthesised.video)
    assert synthesised.driver == "recorded" and info.duration == pytest.approx(speech, abs=0.1)
    own_voice = avatar.say(line, owner="tess", recorded_voice=True)
    assert probe(own_voice.video).duration == pytest.approx(clip.duration, abs=0.1)  # the take is the answer


def test_recordings_of_visitors_who_never_come_back_are_deleted(avatar, franck_clip):
    with pytest.raises(UserError, match="not valid"):
        avatar.people.visitor("too-short")
    token = "v" * 43
    owner = avatar.people.visitor(token)
    clip = avatar.record(owner, "Hi", franck_clip)
    answer = avatar.say("Hi", owner=owner)
    assert avatar.people.visitor(token) == owner  # the same browser, later: the same person
    assert [row["text"] for row in avatar.people.recorded_lines(owner)] == ["Hi"]
    assert avatar.people.forget_absent_visitors() == 0  # seen just now
    avatar.people.visitor_days = -1  # as if a week had passed
    assert avatar.people.forget_absent_visitors() == 1
    assert avatar.people.recorded_lines(owner) == [] and not clip.video.exists() and not answer.video.exists()
    avatar.people.visitor_days = avatar.config.visitor_days


@contextlib.contextmanager
def a_person_waiting(avatar):
    """A person's job waits for the render lane while the block runs (as a thread would, stopped)."""
    ticket = object()
    avatar._lane._waiting["someone"] = collections.deque([ticket])
    try:
        yield
    finally:
        del avatar._lane._waiting["someone"]


def test_a_loaded_corpus_is_prerendered_giving_way_to_people(avatar, franck_clip, tmp_path):
    faq = tmp_path / "faq.csv"
    faq.write_text("question,answer\nAre you open today?,Yes we are.\nDo you deliver?,We deliver daily.\n"
                   "Can I pay by card?,Cards are welcome.\n", encoding="utf-8")
    avatar.corpora.load([faq])
    assert [row["state"] for row in avatar.coverage()] == ["waiting"] * 3
    avatar.record("operator", "Cards are welcome.", franck_clip)
    avatar.people.publish("operator", "Cards are welcome.")
    assert [(row["state"], row["recorded"]) for row in avatar.coverage()] == [
        ("waiting", False), ("waiting", False), ("waiting", True)]
    with a_person_waiting(avatar):  # for the lane: the pre-render gives way
        assert avatar.prerender_next() is None and avatar.coverage()[0]["state"] == "waiting"
    assert avatar.prerender_next() == "Yes we are."
    assert avatar.prerender_next() == "We deliver daily."
    assert avatar.prerender_next() == "Cards are welcome."  # drawn on the operator's recording
    rest = []  # then what visitors hear when no answer fits, and when two are close (unless rendered before)
    while (text := avatar.prerender_next()) is not None:
        rest.append(text)
    assert rest in ([TEAM_FALLBACK, CLARIFY], [CLARIFY], [TEAM_FALLBACK], [])
    assert avatar.say(TEAM_FALLBACK).cached and avatar.say(CLARIFY).cached  # both ready now
    assert [row["state"] for row in avatar.coverage()] == ["ready"] * 3
    answer = avatar.respond("Are you open today?", session="s-pre")
    assert answer.cached and answer.text == "Yes we are."  # plays at once
    recorded = avatar.respond("Can I pay by card?", session="s-pre")
    assert recorded.cached and recorded.driver == "recorded"


def test_a_pre_render_in_progress_gives_way_to_a_person_at_its_next_frame(avatar, tmp_path, monkeypatch):
    faq = tmp_path / "faq.csv"
    faq.write_text("question,answer\nDo you sell tea?,We sell green and black tea in our shop.\n", encoding="utf-8")
    avatar.corpora.load([faq])
    frames, give_way = [], avatar._give_way
    person = a_person_waiting(avatar)

    def a_person_comes(done):
        frames.append(done)
        if done == 5 and frames.count(5) == 1:
            person.__enter__()  # a person's render now waits for the lane (once)
        give_way(done)

    monkeypatch.setattr(avatar, "_give_way", a_person_comes)
    assert avatar.prerender_next() is None  # stopped mid-render
    assert frames[-1] == 5 and avatar.coverage()[0]["state"] == "waiting"  # no frame more
    person.__exit__(None, None, None)
    assert avatar.prerender_next() == "We sell green and black tea in our shop."
    assert avatar.coverage()[0]["state"] == "ready"


LONG_ANSWER = ("Thank you for asking about our returns. " * 12).strip()


def test_a_new_answer_streams_while_it_renders_then_plays_from_the_cache_signed(avatar):
    from avatar.serving.live import LiveAnswer

    live = avatar.play(LONG_ANSWER)
    assert isinstance(live, LiveAnswer) and avatar.play(LONG_ANSWER) is live  # everyone asking shares it
    assert avatar.live(live.id) is live and avatar.live("not-an-id") is None
    streamed, read_while_rendering = read_to_end(live, timeout=120)
    assert live.error is None and read_while_rendering
    assert streamed.startswith(live.path.read_bytes()[:64]) and b"moof" in streamed
    answer = avatar.play(LONG_ANSWER)  # finished: the signed file from the cache
    assert answer.cached and answer.video == live.answer.video
    assert read_credentials(answer.video).state == "Trusted"
    assert probe(answer.video).duration == pytest.approx(probe(live.path).duration, abs=0.1)
    assert avatar.say(LONG_ANSWER).video == answer.video  # the API's answer is the same one


def test_an_answer_nobody_watches_any_more_stops_rendering_and_frees_the_lane(tiny_model, chat_db, tmp_path):
    avatar = Avatar(model=tiny_model, chat_db=chat_db, deploy=Deployment(root=tmp_path),
                    config=ServeConfig(live_grace_s=0.2))
    text = LONG_ANSWER + " Goodbye."
    live = avatar.play(text)
    with live.following():
        assert live.wait_playable(timeout=120)
    assert live.wait_done(timeout=120)
    assert live.answer is None and "nobody was watching" in live.error
    assert avatar.say("Hello again.").video.is_file()  # the render lane is free
    again = avatar.play(text)
    assert again is not live and not again.done  # asked again: rendered anew
    with again.following():
        again.wait_done(timeout=300)
    assert again.answer is not None and again.answer.video.is_file()


def test_a_session_asking_anew_drops_its_unfinished_answer_unless_another_asked_for_it(avatar):
    from avatar.serving.live import SUPERSEDED

    first = avatar.play(LONG_ANSWER + " One.", asker="ann-page")
    shared = avatar.play(LONG_ANSWER + " Two.", asker="bob-page")
    with first.following(), shared.following():  # both watched: only asking anew can stop one
        assert avatar.play(LONG_ANSWER + " Two.", asker="ann-page") is shared  # ann now wants what bob asked
        assert first.wait_done(timeout=120)
        assert first.answer is None and first.error == SUPERSEDED
        assert not shared.superseded  # bob's page still wants it
        assert shared.wait_done(timeout=300)
    assert shared.answer is not None and shared.answer.video.is_file()


def test_more_new_answers_in_flight_than_the_deployment_allows_are_refused_as_busy(tiny_model, chat_db, tmp_path):
    avatar = Avatar(model=tiny_model, chat_db=chat_db, deploy=Deployment(root=tmp_path, max_waiting=1))
    first = avatar.play(LONG_ANSWER, owner="ann")
    with first.following():
        with pytest.raises(UserError, match="busy"):
            avatar.play("Something else entirely.", owner="bob")
        assert avatar.play(LONG_ANSWER, owner="bob") is first  # the same answer is shared, not refused
        assert first.wait_done(timeout=300) and first.answer is not None
    again = avatar.play("Something else entirely.", owner="bob")  # room again
    with again.following():
        assert again.wait_done(timeout=300) and again.answer is not None


def test_a_small_phone_recording_whose_face_is_over_40_px_is_found_and_rendered(avatar, franck_clip, ffmpeg, tmp_path):
    import subprocess

    phone = tmp_path / "phone-176x144.mp4"  # franck's face about 42 px wide, in an old phone's frame
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-i", franck_clip, "-vf", "scale=120:96,pad=176:144:28:24",
                    "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "copy", phone], check=True)
    clip = avatar.record("erin", "Hello there", phone)
    assert clip.duration == pytest.approx(2.0, abs=0.1)
    answer = avatar.say("Hello there", owner="erin")
    assert answer.driver == "recorded" and probe(answer.video).frames >= 45


def test_a_team_sets_its_own_demo_questions_answered_from_its_corpus(avatar):
    assert avatar.demo_questions() == []
    study = avatar.demo_dialogue("visitor")  # none set: the study's five, from the English corpus
    assert [q for q, _ in avatar.history(study)] == list(STUDY_QUESTIONS)
    kept = avatar.set_demo_questions(["What are your opening hours?", "  ", "Can I speak to a human?"])
    assert kept == ["What are your opening hours?", "Can I speak to a human?"]
    demo = avatar.demo_dialogue("visitor")
    replies = [r for _, r in avatar.history(demo)]
    assert replies == [avatar.corpora.reply(q).text for q in kept]  # answered from the active corpus
    assert replies != [avatar.corpora.reply(q, ENGLISH).text for q in kept]  # (not the study's small talk)
    assert avatar.history("visitor") == []  # the visitor's own chat is left as it was
    with pytest.raises(UserError, match="at most 10 questions"):
        avatar.set_demo_questions([f"Question {i}?" for i in range(11)])
    with pytest.raises(UserError, match="characters long"):
        avatar.set_demo_questions(["x" * 600])
    assert avatar.demo_questions() == kept  # a refused list changes nothing
    avatar.end_session("visitor")
    assert avatar.history(demo) == [] and avatar.history(study) == []
    avatar.set_demo_questions([])
    assert avatar.demo_questions() == []
