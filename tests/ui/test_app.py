"""The app end to end, as a program and a person's browser would reach it (served locally)."""

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from avatar.chat.bot import AI_DISCLOSURE
from avatar.chat.corpora import DEMO_GREETING
from avatar.media import iter_frames, probe
from avatar.media.decode import decode_audio
from avatar.metrics import face_embedding
from avatar.presenter import DEFAULT_MODEL
from avatar.provenance.credentials import TRAINED_ALGORITHMIC_MEDIA, local_identity, read_credentials
from avatar.speech import synthesize
from avatar.vision import choose_face, detect_faces

ROOT = Path(__file__).resolve().parents[2]


def _status(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def test_ask_returns_the_reply_and_the_presenter_saying_it_with_credentials(server, app_cache,
                                                                           identity_references):
    from gradio_client import Client

    reply, video = Client(server, verbose=False).predict("What's your phone number?", api_name="/ask")
    assert reply.startswith("You can call us free")  # the shipped demo FAQ answers by default
    info = probe(video)
    assert info.codec == "h264" and info.audio_codec == "aac"
    speech = synthesize(reply).duration
    assert len(decode_audio(video, 16000)) / 16000 == pytest.approx(speech, abs=0.15)
    assert info.duration == pytest.approx(speech, abs=0.15)
    frames = list(iter_frames(video, every=15))
    corner = frames[0].rgb[-30:, -90:].astype(int)
    assert corner.mean() < 90 and corner.max() > 200  # the AI-generated badge
    presenter, driver = identity_references
    closer = []
    for frame in frames:
        face, _ = choose_face(detect_faces(frame.rgb), frame.rgb.shape[1], frame.rgb.shape[0])
        if face is not None:
            embedding = face_embedding(frame.rgb, face.box)
            closer.append(presenter.distance(embedding) < driver.distance(embedding))
    assert len(closer) >= 0.9 * len(frames) and np.mean(closer) >= 0.8
    credentials = read_credentials(video, trust=(app_cache / "c2pa" / "ca.pem").read_bytes())
    assert credentials.state == "Trusted" and credentials.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert credentials.presenter["model"] == DEFAULT_MODEL.name


def test_a_second_presenter_can_be_picked_and_unknown_ones_are_refused(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    _, video = client.predict("Hello", "tiny", api_name="/ask")
    assert read_credentials(video).presenter["model"] == "tiny"
    with pytest.raises(Exception, match="not in the list of choices|no presenter model called"):
        client.predict("Hello", "../../models/presenter-interim", api_name="/ask")


def test_an_oversized_upload_is_refused(server, tmp_path):
    from gradio_client import Client, handle_file

    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(6 * 1024**2))  # the test server takes at most 5 MB
    with pytest.raises(Exception, match="(?i)too large|exceeds|maximum"):
        Client(server, verbose=False).predict("Hi", handle_file(str(big)), True, api_name="/record")


def test_the_first_message_says_the_presenter_is_an_ai(server):
    status, config = _status(f"{server}/config")
    assert status == 200 and json.dumps(AI_DISCLOSURE)[1:-1] in config and json.dumps(DEMO_GREETING)[1:-1] in config


def test_rest_calls_that_skip_the_queue_are_refused(server):
    status, text = _status(f"{server}/gradio_api/run/ask", "POST", b'{"data": ["What is AI?"]}')
    assert status == 404 and "queue" in text


@pytest.mark.parametrize("path", [
    str(ROOT / "app.py"), str(ROOT / "avatar" / "service.py"), str(ROOT / "models"),
    str(ROOT / "models" / "presenter-interim" / "model.onnx"), "c2pa/ca-key.pem", "c2pa/signer-key.pem",
    str(ROOT / "pyproject.toml").replace("pyproject", "../main/pyproject"), "/etc/passwd", "../../../etc/passwd",
    "%2e%2e/%2e%2e/etc/passwd",
])
def test_file_routes_do_not_serve_source_models_keys_or_system_files(server, app_cache, path):
    if path.startswith("c2pa/"):  # the app's signing keys (made here if no answer was signed yet)
        local_identity(app_cache / "c2pa")
        path = str(app_cache / path)
    status, text = _status(f"{server}/gradio_api/file={path}")
    assert status in (403, 404), (path, status, text[:200])


def test_the_study_demo_exports_one_video_with_subtitles(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    client.predict("What is your phone number?", api_name="/ask")  # the person's own conversation
    video, files = client.predict(api_name="/study")
    info = probe(video)
    assert info.has_audio and info.duration > 5 * 2.0  # five title cards and five answers
    paths = [x if isinstance(x, str) else x.get("path", "") for x in files]
    srt = Path(next(p for p in map(str, paths) if p.endswith(".srt"))).read_text()
    assert srt.count("Q: ") == 5 and srt.index("Q: Do you know gossip?") < srt.index("Q: What is AI?")
    assert "ENIAC" in srt  # answered from the English corpus the study's questions were written for
    # The person's own conversation is left as it was: exporting it gives their one exchange.
    own = client.predict(api_name="/export")
    own_srt = Path(next(str(x if isinstance(x, str) else x.get("path", "")) for x in own
                        if str(x if isinstance(x, str) else x.get("path", "")).endswith(".srt"))).read_text()
    assert own_srt.count("Q: ") == 1 and "Q: What is your phone number?" in own_srt


def test_a_recorded_answer_is_saved_then_previewed_and_can_be_deleted(server, app_cache, server_tmp, franck_clip):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    status, preview, _ = client.predict("Hi", handle_file(str(franck_clip)), True, api_name="/record")
    assert status.startswith("Saved (2.0 s, with sound)")
    assert probe(preview).has_audio and probe(preview).duration == pytest.approx(2.0, abs=0.1)
    name = Path(preview).name
    assert (app_cache / "answers" / name).is_file() and list(server_tmp.rglob(name))
    status, _ = client.predict("Hi", api_name="/delete_recording")
    assert status == "Deleted."
    # Nothing of it stays downloadable: our answer and Gradio's served copy are gone.
    assert not (app_cache / "answers" / name).exists() and not list(server_tmp.rglob(name))
    status, _ = client.predict("Hi", api_name="/delete_recording")
    assert status == "There was no recording for this line."


def test_a_small_face_recording_is_refused_at_upload(server, small_face_clip):
    from gradio_client import Client, handle_file

    with pytest.raises(Exception, match="cannot be put into this recording"):
        Client(server, verbose=False).predict("Hi", handle_file(str(small_face_clip)), True, api_name="/record")


def test_a_huge_message_is_refused_and_nothing_skips_the_queue(server):
    from gradio_client import Client

    with pytest.raises(Exception, match="at most 500"):
        Client(server, verbose=False).predict("x" * 1_000_000, api_name="/ask")
    for fn_index in range(12):  # every handler, called the way that would skip the queue
        status, _ = _status(f"{server}/gradio_api/run/predict", "POST",
                            json.dumps({"data": ["What is AI?", []], "fn_index": fn_index}).encode())
        assert status in (403, 404, 422), (fn_index, status)


def test_a_bad_recording_is_refused_with_a_clear_message(server, tmp_path):
    from gradio_client import Client, handle_file

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"definitely not a video" * 100)
    with pytest.raises(Exception, match="not a readable video"):
        Client(server, verbose=False).predict("Hi", handle_file(str(broken)), True, api_name="/record")


def test_twenty_sessions_at_once_get_answers_or_a_clean_busy_message(server):
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    questions = ["What is your phone number?", "How can I email you?", "Can I get a VAT invoice?", "Where is your shop?",
                 "How much is delivery?", "How can I pay?", "Do you sell gift cards?", "Is there a guarantee?",
                 "Do you price match?", "Are returns free?"] * 2

    def ask(question):
        try:
            reply, video = Client(server, verbose=False).predict(question, api_name="/ask")
            return "ok", reply, video
        except Exception as error:  # the client reports a full queue as an error
            return "refused", str(error), None

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(ask, questions))
    answered = [r for r in results if r[0] == "ok"]
    refused = [r for r in results if r[0] == "refused"]
    assert answered and all(probe(video).has_audio for _, _, video in answered)
    assert all("queue" in text.lower() or "busy" in text.lower() for _, text, _ in refused), refused
    reply, _ = Client(server, verbose=False).predict("What is your phone number?", api_name="/ask")  # still serving
    assert reply.startswith("You can call us free")


def test_adapting_asks_for_agreement_then_for_enough_recordings(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    with pytest.raises(Exception, match="agree"):
        client.predict(False, "Test Person", api_name="/adapt")
    with pytest.raises(Exception, match="Write your name"):  # a capitalised sentence
        client.predict(True, "", api_name="/adapt")
    with pytest.raises(Exception, match=r"Record at least 20 s of answers first"):
        client.predict(True, "Test Person", api_name="/adapt")


def _call_raw(server: str, api_name: str, data: list) -> tuple[str, object]:
    """A raw queue call, as any HTTP client can make it: ("complete", output) or ("error", message)."""
    status, body = _status(f"{server}/gradio_api/call/{api_name}", "POST", json.dumps({"data": data}).encode())
    assert status == 200, (status, body[:300])
    event = json.loads(body)["event_id"]
    with urllib.request.urlopen(f"{server}/gradio_api/call/{api_name}/{event}", timeout=300) as response:
        stream = response.read().decode()
    kind = next(line.split(": ", 1)[1] for line in stream.splitlines()[::-1] if line.startswith("event: "))
    payload = [line.split(": ", 1)[1] for line in stream.splitlines() if line.startswith("data: ")][-1]
    return kind, json.loads(payload)


def test_a_served_answer_cannot_be_taken_or_deleted_as_someones_recording(server):
    kind, (reply, video) = _call_raw(server, "ask", ["What is AI?", None, None])
    assert kind == "complete" and Path(video["path"]).is_file()  # another session's served answer
    kind, message = _call_raw(server, "record", ["Hi", {"path": video["path"], "meta": {"_type": "gradio.FileData"}},
                                                 True, None, None])
    assert kind == "error" and "upload" in str(message).lower()
    assert Path(video["path"]).is_file()  # not deleted
    kind, (status, _) = _call_raw(server, "delete_recording", ["Hi"])
    assert status == "There was no recording for this line."  # nothing was saved


def test_another_clients_upload_cannot_be_taken_or_deleted_as_ones_recording(server, franck_clip):
    import httpx

    with httpx.Client(base_url=server, timeout=60) as uploader:  # a browser: cookies kept from its first answer
        uploader.get("/config")
        assert uploader.cookies.get("avatar-client")
        with open(franck_clip, "rb") as take:
            response = uploader.post("/gradio_api/upload", files={"files": ("take.mp4", take, "video/mp4")})
        uploaded = response.json()[0]
    assert Path(uploaded).is_file()
    for _ in range(2):  # a client with no cookie, then the same path named again
        kind, message = _call_raw(server, "record", ["Hi", {"path": uploaded, "meta": {"_type": "gradio.FileData"}},
                                                     True, None, None])
        assert kind == "error" and "only a file you uploaded" in str(message), message
    assert Path(uploaded).is_file()  # not deleted


@pytest.mark.parametrize("path, body", [
    ("/gradio_api/call/v2/ask", b'{"no such field": 1}'),  # an unknown argument
    ("/gradio_api/queue/join", b'{"data": [1], "fn_index": 99999, "session_hash": "x"}'),  # no such function
    ("/gradio_api/run/ask", b'{"data": [1, 2, 3], "fn_index": 99999, "session_hash": "x"}'),
])
def test_an_api_request_gradio_cannot_read_is_a_clear_400_not_a_500(server, path, body):
    status, text = _status(f"{server}{path}", "POST", body)
    assert status == 400 and "could not be read" in text, (status, text[:200])


def test_an_event_stream_of_an_unknown_event_ends_cleanly_with_its_error(server):
    for path in ("/gradio_api/call/ask/not-an-event", "/gradio_api/queue/data?session_hash=not-a-session"):
        status, text = _status(f"{server}{path}")  # read to its end: a stream cut off raises here
        assert status == 200 and "error" in text and "Not Found" in text, (path, text[:200])


def test_a_huge_presenter_name_is_refused_without_echoing_it(server, franck_clip):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    with pytest.raises(Exception) as refused:
        client.predict("Hello", "x" * 1_000_000, api_name="/ask")
    assert "no presenter model called" in str(refused.value) and len(str(refused.value)) < 400
    # Validated before anything is saved: the recording is not kept under an unknown presenter.
    with pytest.raises(Exception, match="no presenter model called"):
        client.predict("Hi", handle_file(str(franck_clip)), True, "nobody", api_name="/record")
    status, _ = client.predict("Hi", api_name="/delete_recording")
    assert status == "There was no recording for this line."


def test_handlers_that_are_not_api_cannot_be_called_by_name(server):
    from gradio_client import Client

    info = Client(server, verbose=False).view_api(print_info=False, return_format="dict")
    public = {name.strip("/") for name in info["named_endpoints"]}
    assert {"ask", "record", "export", "study"} <= public and not any(n.startswith("false") for n in public)
    for name in ("false", "false_1", "false_3", "false_7", "_end_session", "_reply", "_about"):
        status, _ = _status(f"{server}/gradio_api/call/{name}", "POST", json.dumps({"data": []}).encode())
        assert status == 404, (name, status)


def test_an_answer_already_rendered_does_not_wait_behind_a_render(server):
    import threading

    from gradio_client import Client

    Client(server, verbose=False).predict("What is your phone number?", api_name="/ask")  # rendered (or cached) now
    waiting = Client(server, verbose=False)
    finished = []
    slow = threading.Thread(target=lambda: finished.append(("new", Client(server, verbose=False).predict(
        "Can I pay in instalments?", api_name="/ask"))))
    slow.start()
    import time

    time.sleep(0.5)  # the new answer is rendering
    waiting.predict("What is your phone number?", api_name="/ask")
    finished.append(("cached", None))
    slow.join(timeout=300)
    assert [kind for kind, _ in finished] == ["cached", "new"]


def test_a_ready_answer_never_waits_for_a_slot_while_more_people_wait_for_new_ones_than_there_are_slots(server):
    """Nine people wait for new answers (renders run one at a time; the queue had 8 slots, all
    held by waits); a tenth asking for a ready answer is answered before any new one is done."""
    import time

    from gradio_client import Client

    ready = "What is your phone number?"
    Client(server, verbose=False).predict(ready, api_name="/ask")  # rendered (or cached) now
    questions = ["Do you have a shop I can visit?", "How long does delivery take?", "Can I return a sale item?",
                 "Do you ship abroad?", "How do I reset my password?", "Can I pay by PayPal?",
                 "Where is my refund?", "Can I change my delivery address?", "Do you sell gift cards?"]
    jobs = [Client(server, verbose=False).submit(question, api_name="/ask") for question in questions]
    try:
        time.sleep(1.0)  # all of them asked and waiting (any answered already had been rendered before)
        early = sum(job.done() for job in jobs)
        Client(server, verbose=False).predict(ready, api_name="/ask")
        assert sum(job.done() for job in jobs) == early  # no new answer had to finish first
    finally:
        for job in jobs:  # nobody waits for them any more: their renders stop
            job.cancel()


def test_two_accounts_each_their_own_and_only_the_operator_publishes_and_withdraws(login_server, franck_clip):
    """Logins are separate people: bob (a visitor) can neither publish nor withdraw; alice (an
    operator) publishes her recording of a reply, bob is then answered with it, and once she
    withdraws it bob gets the synthesised answer again."""
    from gradio_client import Client, handle_file

    url, _ = login_server
    with pytest.raises(Exception):
        Client(url, verbose=False, auth=("alice", "wrong password"))
    alice = Client(url, verbose=False, auth=("alice", "alice-secret"))
    bob = Client(url, verbose=False, auth=("bob", "bob-secret-1"))

    reply, synthesised = bob.predict("Hello", api_name="/ask")
    assert probe(synthesised).duration == pytest.approx(synthesize(reply).duration, abs=0.15)
    status, _, _ = bob.predict(reply, handle_file(str(franck_clip)), True, api_name="/record")
    assert status.startswith("Saved (2.0 s")
    for action in ("/publish", "/withdraw"):
        with pytest.raises(Exception, match="Only an operator"):
            bob.predict(reply, api_name=action)
    status, _ = bob.predict(reply, api_name="/delete_recording")
    assert status == "Deleted."  # bob's own recording, gone before alice publishes

    status, _, _ = alice.predict(reply, handle_file(str(franck_clip)), True, api_name="/record")
    assert status.startswith("Saved (2.0 s")
    assert alice.predict(reply, api_name="/publish").startswith("Published")
    _, recorded = bob.predict("Hello", api_name="/ask")
    assert probe(recorded).duration == pytest.approx(2.0, abs=0.1)  # alice's take, not the synthesised line

    assert alice.predict(reply, api_name="/withdraw").startswith("Withdrawn")
    _, again = bob.predict("Hello", api_name="/ask")
    assert probe(again).duration == pytest.approx(synthesize(reply).duration, abs=0.15)
    assert alice.predict(reply, api_name="/withdraw") == "No recording is published for this line."


def test_with_accounts_a_live_answer_stream_needs_the_login_too(login_server):
    """A live answer's stream is served by our own route, which Gradio's login does not guard."""
    import urllib.error
    import urllib.request

    url, _ = login_server
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{url}/avatar-live/{'a' * 24}.mp4", timeout=10)
    assert refused.value.code == 401 and b"Log in first." in refused.value.read()


def test_an_ordinary_refusal_is_one_line_in_the_log_not_a_traceback(caplog):
    import logging

    import gradio as gr

    from avatar.errors import UserError
    from avatar.ui.shared import call

    def refuse():
        raise UserError("that answer is 2,000 characters long; the presenter says at most 1500.")

    with caplog.at_level(logging.INFO), pytest.raises(gr.Error) as refused:
        call(refuse)
    assert refused.value.message.startswith("That answer is 2,000 characters long")
    assert refused.value.print_exception is False  # Gradio prints no traceback for it
    assert [r.getMessage() for r in caplog.records] == [f"refused: {refused.value.message}"]
