"""The replicated deployment on one machine: what must hold when people are spread over app
replicas and answers over render workers (README "Deploy")."""

import re
import threading
from pathlib import Path
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from avatar.media import probe
from tests.cluster.conftest import LOGIN
from tests.streams import read_to_end

PHONE_REPLY = "You can call us free on 1-800-555-0199, from 8 am to 8 pm, Monday to Saturday."


def client(replica):
    """A new browser session on `replica`, logged in as the same person (a login, not the
    session, owns recordings, so a person can move between replicas)."""
    from gradio_client import Client

    return Client(replica.url, auth=LOGIN, verbose=False)


def finished_jobs(worker) -> list[str]:
    return re.findall(r"Task avatar\.render\[([0-9a-z-]+)\] succeeded", worker.log.read_text(errors="replace"))


def received_jobs(worker) -> list[str]:
    return re.findall(r"Task avatar\.render\[([0-9a-z-]+)\] received", worker.log.read_text(errors="replace"))


def test_a_recording_made_through_one_replica_is_used_by_an_answer_from_the_other(cluster, franck_clip):
    from gradio_client import handle_file

    a, b = cluster["replicas"]
    status, preview, _ = client(a).predict(PHONE_REPLY, handle_file(str(franck_clip)), True, api_name="/record")
    assert status.startswith("Saved (2.0 s, with sound)") and probe(preview).duration == pytest.approx(2.0, abs=0.1)
    reply, video = client(b).predict("What is your phone number?", api_name="/ask")
    assert reply == PHONE_REPLY
    info = probe(video)  # the recording's 2 s with its own sound, not ~6 s of synthesised speech
    assert info.duration == pytest.approx(2.0, abs=0.1) and info.has_audio


def test_jobs_spread_over_both_workers(cluster):
    a, b = cluster["replicas"]
    before = [len(finished_jobs(w)) for w in cluster["workers"]]
    questions = ["Where is your shop?", "How can I pay?", "Do you sell gift cards?", "Is there a guarantee?",
                 "Do you price match?", "Are returns free?"]  # six different answers of the demo FAQ
    with ThreadPoolExecutor(max_workers=len(questions)) as pool:
        results = list(pool.map(lambda i: client((a, b)[i % 2]).predict(questions[i], api_name="/ask"),
                                range(len(questions))))
    assert all(probe(video).has_audio for _, video in results)
    done = [len(finished_jobs(w)) - n for w, n in zip(cluster["workers"], before)]
    assert sum(done) >= 4 and min(done) >= 1, done


def test_a_dialogue_export_renders_its_answers_on_the_workers_and_joins_them_there(cluster):
    _, b = cluster["replicas"]
    exports = sum(len(re.findall(r"Task avatar\.export\[[0-9a-z-]+\] succeeded", w.log.read_text()))
                  for w in cluster["workers"])
    video, files = client(b).predict(api_name="/study")
    info = probe(video)
    assert info.has_audio and info.duration > 5 * 2.0  # five title cards and five answers
    srt = Path(next(str(f) for f in files if str(f).endswith(".srt"))).read_text()
    assert srt.count("Q: ") == 5
    assert sum(len(re.findall(r"Task avatar\.export\[[0-9a-z-]+\] succeeded", w.log.read_text()))
               for w in cluster["workers"]) == exports + 1


def test_a_presenter_adapted_on_a_worker_is_offered_and_rendered_through_the_other_replica(cluster, long_clip):
    from gradio_client import handle_file

    from avatar.service import owner_key
    from avatar.store import Store

    a, b = cluster["replicas"]
    # A line long enough for a 21 s take (a take far longer than its line is refused).
    line = ("Please adapt the presenter to me: I am reading this long line slowly and clearly to the camera, "
            "facing it in good light, so that there is enough of my face for the training to learn from.")
    status, _, _ = client(a).predict(line, handle_file(str(long_clip)), True, api_name="/record")
    assert status.startswith("Saved (21.0 s")
    started, _, _ = client(a).predict(True, "Alice Example", api_name="/adapt")
    assert "Waiting for a worker" in started or "..." in started
    store, deadline = Store(cluster["db"]), time.monotonic() + 600
    while (row := store.adaptation(owner_key(LOGIN[0]), "tiny"))["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, row
        time.sleep(1)
    assert row["state"] == "done" and row["model"].startswith("tiny-adapted-"), row
    reply, video = client(b).predict("What is a super computer?", row["model"], api_name="/ask")
    assert probe(video).has_audio
    assert (Path(b.env["AVATAR_CACHE"]) / "models" / owner_key(LOGIN[0]) / row["model"] / "model.onnx").is_file()


def test_a_job_whose_worker_is_killed_mid_render_finishes_on_the_other(cluster):
    a, _ = cluster["replicas"]
    workers = cluster["workers"]
    seen = [set(received_jobs(w)) for w in workers]
    result = {}
    asking = threading.Thread(target=lambda: result.update(answer=client(a).predict(
        "Can I pay in instalments?", api_name="/ask")))
    asking.start()
    deadline = time.monotonic() + 60
    while True:
        new = [set(received_jobs(w)) - s for w, s in zip(workers, seen)]
        if any(new) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    victim = next(i for i, jobs in enumerate(new) if jobs)
    job = new[victim].pop()
    workers[victim].kill()
    try:
        asking.join(timeout=240)
        assert not asking.is_alive(), "the answer never arrived"
        reply, video = result["answer"]
        assert probe(video).has_audio
        assert job not in finished_jobs(workers[victim]) and job in finished_jobs(workers[1 - victim])
    finally:
        workers[victim].start()
        workers[victim].wait_until_logged("ready.")


def test_restarting_redis_or_a_replica_loses_no_recording_and_no_finished_answer(cluster):
    a, b = cluster["replicas"]
    _, first = client(a).predict("What is your phone number?", api_name="/ask")  # the recorded answer, finished earlier
    jobs = sum(len(finished_jobs(w)) for w in cluster["workers"])
    cluster["redis"].restart()
    reply, video = client(b).predict("What is your phone number?", api_name="/ask")
    assert reply == PHONE_REPLY and probe(video).duration == pytest.approx(2.0, abs=0.1)
    a.stop()
    a.start()
    reply, video = client(a).predict("What is your phone number?", api_name="/ask")
    assert reply == PHONE_REPLY and probe(video).duration == pytest.approx(2.0, abs=0.1)
    assert sum(len(finished_jobs(w)) for w in cluster["workers"]) == jobs  # served from the index: no new job
    _, fresh = client(b).predict("Do you offer next-day delivery?", api_name="/ask")  # new jobs still run after
    assert probe(fresh).has_audio


def test_forty_sessions_across_both_replicas_get_an_answer_or_a_clean_busy_message(cluster):
    from avatar.chat.corpora import DEMO_FILE
    from avatar.chat.corpus import read_corpus

    a, b = cluster["replicas"]
    questions = [pair.questions[0] for pair in read_corpus([DEMO_FILE]).pairs][:40]  # 40 different answers

    def ask(i):
        try:
            reply, video = client((a, b)[i % 2]).predict(questions[i], api_name="/ask")
            return "ok", i % 2, video
        except Exception as error:  # the client reports a full queue or a busy renderer as an error
            return "refused", i % 2, str(error)

    with ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(ask, range(40)))
    answered = [r for r in results if r[0] == "ok"]
    refused = [r for r in results if r[0] == "refused"]
    print(f"40 sessions: {len(answered)} answered, {len(refused)} told the presenter is busy")
    assert {replica for _, replica, _ in answered} == {0, 1}
    assert all(probe(video).has_audio for _, _, video in answered)
    # Each refusal is one of the service's clean sentences: busy, the queue full, or (on a slow
    # machine, a job still queued after its wait) try again; never an error or a traceback.
    assert all("queue" in text.lower() or "busy" in text.lower() or "try again in a minute" in text.lower()
               for _, _, text in refused), refused


def test_an_answer_rendered_on_a_worker_streams_to_the_replica_while_it_renders(cluster, monkeypatch, tmp_path):
    """A replica's service (as app.py builds it, here in the test process) plays a new answer:
    the worker publishes its fragments through Redis and they arrive before the job is done."""
    from avatar.serving.live import LiveAnswer
    from avatar.service import open_service

    for name, value in cluster["env"].items():
        if name.startswith(("AVATAR_", "AWS_")):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("AVATAR_CACHE", str(tmp_path / "cache"))
    avatar = open_service()  # the replica's deployment, from the environment set above
    text = "Thank you for waiting. " * 20
    live = avatar.play(text.strip())
    assert isinstance(live, LiveAnswer)
    streamed, early = read_to_end(live, timeout=240)
    assert live.error is None and early and b"moof" in streamed
    assert live.answer.video.is_file() and probe(live.answer.video).has_audio  # the signed file, via S3
    assert any(f"render-{live.key}" in finished_jobs(w) for w in cluster["workers"])


def test_a_streamed_answer_nobody_watches_any_more_stops_on_its_worker(cluster, monkeypatch, tmp_path):
    """The replica's viewer leaves after the first frame: the worker stops that render within a
    dozen frames (its job ends as abandoned, long before the answer's length), and is free for
    the next answer."""
    from dataclasses import replace

    from avatar.serving.live import ABANDONED
    from avatar.service import open_service

    for name, value in cluster["env"].items():
        if name.startswith(("AVATAR_", "AWS_")):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("AVATAR_CACHE", str(tmp_path / "cache"))
    avatar = open_service()
    avatar.config = replace(avatar.config, live_grace_s=0.5)
    text = "Please hold the line while I look that up for you. " * 27  # about 90 s of speech: 30 s or more to render
    live = avatar.play(text.strip())
    with live.following():
        assert live.wait_playable(timeout=240)
    assert live.wait_done(timeout=120)
    assert live.answer is None and live.error == ABANDONED
    # celery logs the job's end just after it stores the result the replica was waiting for
    stopped, logs = None, ""
    deadline = time.monotonic() + 30
    while stopped is None and time.monotonic() < deadline:
        time.sleep(0.5)
        logs = "".join(worker.log.read_text(errors="replace") for worker in cluster["workers"])
        stopped = re.search(rf"Task avatar\.render\[render-{live.key}\] succeeded in ([0-9.]+)s: .*{ABANDONED}", logs)
    assert stopped and float(stopped.group(1)) < 15, logs[-2000:]
    assert probe(avatar.say("Thank you for holding.").video).has_audio  # the workers render the next answer
