"""App handlers called directly, where a failure has to be provoked: each tab over a `Shared`
holding a stand-in service (and logins where they matter)."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from avatar.driver import RecordedClips
from avatar.ui.answers import AnswersTab
from avatar.ui.app import about_markdown
from avatar.ui.chat import ChatTab
from avatar.ui.player import Player
from avatar.ui.presenters import PresentersTab
from avatar.ui.record import RecordTab
from avatar.ui.server import launch_options
from avatar.ui.shared import Shared, sentence

REQUEST = SimpleNamespace(session_hash="session-1", username=None)


class Untouchable:
    """A service no handler may reach: any use fails the test with `why`."""

    def __init__(self, why: str):
        self.why = why

    def __getattr__(self, name):
        pytest.fail(self.why)


def _users(tmp_path):
    from avatar.accounts import Users

    users = Users(tmp_path / "users")
    users.add("alice", "alice-secret", "operator")
    users.add("bob", "bob-secret-1", "visitor")
    return users


def test_a_render_that_fails_after_recording_keeps_the_recording(franck_clip, tmp_path):
    clips = RecordedClips.in_folder(tmp_path / "clips")

    def failing_say(*args, **kwargs):
        raise RuntimeError("the swap model crashed")

    service = SimpleNamespace(record=lambda owner, line, video: clips.save(line, video), say=failing_say,
                              adaptation_status=lambda owner, model: SimpleNamespace(message=""),
                              presenter=lambda model, owner: None, render_config=lambda framing: None)
    upload = tmp_path / "upload.mp4"
    upload.write_bytes(franck_clip.read_bytes())
    status, preview, recording = RecordTab(Shared(service=service)).save_recording(
        "Hi", str(upload), True, None, None, REQUEST, progress=lambda *args, **kwargs: None)
    assert preview is None and recording is None and "could not be rendered; the recording is kept" in status
    kept = clips.get("Hi")
    assert kept is not None and kept.video.is_file() and kept.duration == pytest.approx(2.0, abs=0.05)
    assert not upload.exists()  # the raw upload is not kept: only the checked copy is


def test_a_silent_recording_warns_that_the_synthesised_voice_is_used(franck_clip, ffmpeg, tmp_path):
    import subprocess

    silent = tmp_path / "silent.mp4"
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-i", franck_clip, "-an", "-c:v", "copy", silent], check=True)
    clips = RecordedClips.in_folder(tmp_path / "clips")
    service = SimpleNamespace(record=lambda owner, line, video: clips.save(line, video),
                              say=lambda *a, **k: SimpleNamespace(video=silent, duration=2.0),
                              adaptation_status=lambda owner, model: SimpleNamespace(message=""),
                              presenter=lambda model, owner: None, render_config=lambda framing: None)
    status, _, _ = RecordTab(Shared(service=service)).save_recording("Hi", str(silent), True, None, None, REQUEST,
                                                                     progress=lambda *a, **k: None)
    assert "no sound, so the synthesised voice is used" in status


def test_adapting_needs_the_person_to_agree_first():
    record = RecordTab(Shared(service=Untouchable("nothing may start without agreement")))
    with pytest.raises(Exception, match="agree"):
        record.start_adaptation(False, "Someone", None, REQUEST)


def test_only_an_operator_may_publish_or_withdraw(tmp_path):
    users = _users(tmp_path)
    record = RecordTab(Shared(service=Untouchable("only an operator may publish or withdraw"), accounts=users))
    for request in (REQUEST, SimpleNamespace(session_hash="session-2", username="bob")):
        for action in (record.publish, record.withdraw):
            with pytest.raises(Exception, match="Only an operator"):
                action("Hi", request)
    withdrawn = []
    people = SimpleNamespace(unpublish=lambda line: withdrawn.append(line) or [])
    shared = Shared(service=SimpleNamespace(people=people), accounts=users)
    assert RecordTab(shared).withdraw("Hi", SimpleNamespace(session_hash="session-3", username="alice")).startswith(
        "Withdrawn")
    assert withdrawn == ["Hi"]
    assert shared.is_operator(SimpleNamespace(session_hash="s", username="alice"))
    assert not shared.is_operator(SimpleNamespace(session_hash="s", username="bob"))
    assert not Shared(service=shared.service).is_operator(SimpleNamespace(session_hash="s", username="alice"))


def test_adaptation_progress_shows_the_preview_pixels_not_a_private_path(tmp_path):
    from PIL import Image

    from avatar.adaptation import AdaptStatus

    preview = tmp_path / "adapt" / "run" / "preview.png"
    preview.parent.mkdir(parents=True)
    Image.new("RGB", (320, 64), (200, 30, 30)).save(preview)
    status = AdaptStatus("training", "Training: step 25 of 1000.", 0.12, None, preview)
    service = SimpleNamespace(adaptation_status=lambda owner, model: status)
    text, image, timer, _ = RecordTab(Shared(service=service)).adaptation_status(None, REQUEST)
    assert text == "Training: step 25 of 1000. (12%)"
    # Pixels, which Gradio saves and serves itself: it refuses to serve the blocked training folder.
    assert isinstance(image["value"], Image.Image) and image["value"].getpixel((5, 5)) == (200, 30, 30)
    assert timer.active


def test_about_leads_with_who_the_face_is_and_keeps_the_card_in_a_fold():
    facts = {"name": "p", "provider": "CPUExecutionProvider", "sha256": "ab" * 32, "card": "# Card\n\n## Interface",
             "consent": {"person": "Jo Example", "basis": "a signed form", "scope": "demos"}, "renderer": "swap",
             "drawing": "by a face-swap model over a driver (a different real person, whose hair shows)",
             "voice": {"name": "joe", "synthetic": True, "source": "Piper voice en_US-joe-medium",
                       "licence": "Dataset CC0; fine-tuned from lessac"}}
    text = about_markdown(facts)
    lead, fold = text.split("<details>", 1)
    assert "Jo Example" in lead and "a signed form" in lead and "AI-generated" in lead
    assert "face-swap model" in lead and "hair" in lead  # honest: says how the face is made
    assert "Interface" in fold and "Interface" not in lead and "Renderer: swap" in fold
    assert 'the voice is synthetic (the voice "joe"' in lead and "lessac" in fold  # the voice, named


def test_a_shared_media_folder_serves_answers_and_never_recordings(tmp_path):
    from avatar.config import Deployment

    options = launch_options(Shared(Deployment(root=tmp_path, storage=str(tmp_path / "media")), service=object()))
    assert str(tmp_path / "media" / "answers") in options["allowed_paths"]
    assert str(tmp_path / "media" / "recorded") in options["blocked_paths"]
    # served from the local mirror (the cache)
    in_bucket = Shared(Deployment(root=tmp_path, storage="s3://bucket/prefix"), service=object())
    assert not any("bucket" in path for path in launch_options(in_bucket)["allowed_paths"])


def test_an_operator_loads_a_corpus_sees_its_versions_and_downloads_the_unanswered(tmp_path, monkeypatch):
    from avatar.chat.corpora import Corpora
    from avatar.store import Store

    users = _users(tmp_path)
    monkeypatch.setenv("AVATAR_CACHE", str(tmp_path / "cache"))
    corpora = Corpora(Store(f"sqlite:///{tmp_path / 'state.sqlite3'}").prepare(), f"sqlite:///{tmp_path / 'chat.sqlite3'}")
    coverage = lambda: [{"text": answer, "recorded": False, "state": "waiting"}  # noqa: E731
                        for _, answer in corpora.chatbot().entries]
    service = SimpleNamespace(corpora=corpora, coverage=coverage, deploy=SimpleNamespace(prerender=True))
    tab = AnswersTab(Shared(service=service, accounts=users))
    alice, bob = (SimpleNamespace(session_hash="s", username=name) for name in ("alice", "bob"))
    faq = tmp_path / "ours.csv"
    faq.write_text("question,answer\nDo you open on Sundays?,We open from 10 to 4 on Sundays.\n"
                   "Can I park at the shop?,There is free parking behind the shop.\n", encoding="utf-8")
    with pytest.raises(Exception, match="Only an operator"):
        tab.load_corpus([str(faq)], "", "", "", True, bob)
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nOnly a question\n", encoding="utf-8")
    with pytest.raises(Exception, match="bad.csv line 2"):
        tab.load_corpus([str(bad)], "", "", "", True, alice)
    demo = corpora.active()  # the shipped demo FAQ answers until a corpus is chosen
    status, coverage, table, version, unanswered, download, missed, answer_to = tab.load_corpus(
        [str(faq)], "Our shop", "Ask about the shop.", "", True, alice)
    assert "Ready to play at once: 0 of 2 answers" in coverage
    assert "Our shop" in status and "2 answers" in status and "now answers from it" in status
    assert [row[1] for row in table["value"]] == ["Our shop", corpora.row(demo)["name"], "English small talk (chatterbot-corpus)"]
    assert table["value"][0][-1] == "yes" and version["value"] == corpora.active() != demo
    assert corpora.reply("Is there parking?").text == "There is free parking behind the shop."
    for _ in range(2):
        corpora.reply("Do you sell bicycles?")
    *_, unanswered, download, missed, answer_to = tab.corpus_view(alice)
    assert unanswered["value"] == [["not answered", "Do you sell bicycles?", 2, unanswered["value"][0][3], ""]]
    text = Path(download["value"]).read_text(encoding="utf-8")
    assert text.splitlines()[0] == "kind,question,answer,count,first_asked,last_asked"
    assert "unanswered,Do you sell bicycles?,,2," in text
    assert missed["choices"] == ["Do you sell bicycles?"] and missed["value"] == "Do you sell bicycles?"
    assert [value for _, value in answer_to["choices"]] == ["Do you open on Sundays?", "Can I park at the shop?"]
    with pytest.raises(Exception, match="Only an operator"):
        tab.attach("Do you sell bicycles?", "Can I park at the shop?", bob)
    status, *_, unanswered, download, missed, answer_to = tab.attach("Is there room for my car?",
                                                                     "Can I park at the shop?", alice)
    assert "new version" in status and corpora.reply("Is there room for my car?").text.startswith("There is free")
    status, *_ = tab.use_corpus(demo, alice)
    assert corpora.row(demo)["name"] in status and corpora.active() == demo
    with pytest.raises(Exception, match="Only an operator"):
        tab.use_corpus("english", bob)


def test_only_an_operator_builds_or_publishes_a_presenter_and_only_with_consent(tmp_path):
    tab = PresentersTab(Shared(service=Untouchable("nothing may be built or published"), accounts=_users(tmp_path)))
    args = ("video.mp4", "ann", "Ann Example", "2026-12-01", "demos", "form #1")
    for request in (REQUEST, SimpleNamespace(session_hash="s", username="bob")):
        with pytest.raises(Exception, match="Only an operator"):
            tab.build_presenter(*args, True, request)
        with pytest.raises(Exception, match="Only an operator"):
            tab.publish_presenter("ann", request)
        with pytest.raises(Exception, match="Only an operator"):
            tab.choose_voice("ann", "espeak", request)
    with pytest.raises(Exception, match="Confirm that the person agreed"):
        tab.build_presenter(*args, False, SimpleNamespace(session_hash="s", username="alice"))


def test_a_refusal_reads_as_a_capitalised_sentence():
    from avatar.errors import UserError

    def refuse(message, session, **kwargs):
        raise UserError("that message is 600 characters long; the presenter takes at most 500.")

    shared = Shared(service=SimpleNamespace(converse=refuse))
    with pytest.raises(Exception) as raised:
        ChatTab(shared, Player(shared)).reply("x" * 600, [], None, None, REQUEST)
    assert raised.value.message == "That message is 600 characters long; the presenter takes at most 500."
    assert sentence("bad.csv line 2: the answer is empty.") == "bad.csv line 2: the answer is empty."


def test_a_video_that_cannot_be_made_is_said_beside_the_reply_which_stays():
    from avatar.chat import Reply
    from avatar.service import Exchange

    asked = []

    def converse(message, session, **kwargs):
        asked.append(message)
        return Exchange(Reply("We open at 9.", 1.0, "When do you open?"), None, "there is no presenter model called 'nobody'.", None)

    shared = Shared(service=SimpleNamespace(converse=converse))
    with pytest.warns(UserWarning, match="There is no presenter model called 'nobody'"):
        history, box, shown, live = ChatTab(shared, Player(shared)).reply("When do you open?", [], "nobody", None,
                                                                         REQUEST)
    assert [m["content"] for m in history] == ["When do you open?", "We open at 9."] and box == ""
    assert shown["answer"] == "" and live is None and asked == ["When do you open?"]  # one call, nothing more


def test_only_an_operator_sets_the_demo_questions(tmp_path):
    users = _users(tmp_path)
    tab = AnswersTab(Shared(service=Untouchable("only an operator may set the demo"), accounts=users))
    for request in (REQUEST, SimpleNamespace(session_hash="session-2", username="bob")):
        with pytest.raises(Exception, match="Only an operator"):
            tab.set_demo("Hi?", request)
    saved = []
    tab = AnswersTab(Shared(service=SimpleNamespace(set_demo_questions=lambda q: saved.extend(q) or q), accounts=users))
    status, text = tab.set_demo("Where is my order?\nHi?", SimpleNamespace(session_hash="s3", username="alice"))
    assert status.startswith("Saved: the demo dialogue asks these 2 questions") and text == "Where is my order?\nHi?"
    assert saved == ["Where is my order?", "Hi?"]
