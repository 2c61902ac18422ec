"""The app's side of render jobs against a real Redis: refusals are clean messages."""

import threading
import time

import pytest
import redis

from avatar.config import Deployment
from avatar.errors import UserError
from avatar.jobs import RenderQueue
from tests import servers


def test_a_full_queue_is_refused_as_busy_before_anything_is_queued(redis_server, tmp_path):
    queue = RenderQueue(Deployment(root=tmp_path, broker=redis_server.url, max_waiting=0))
    with pytest.raises(UserError, match="busy"):
        queue.render("Hello", None, None, True, lambda share, stage: None)
    assert queue.waiting() == 0


def test_an_unreachable_broker_is_a_clear_message(tmp_path):
    queue = RenderQueue(Deployment(root=tmp_path, broker=f"redis://127.0.0.1:{servers.free_port()}/0"))
    with pytest.raises(UserError, match="cannot be reached"):
        queue.render("Hello", None, None, True, lambda share, stage: None)


def _wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _waiting_render(queue: RenderQueue):
    """Start a render job in a thread (no worker runs, so it stays queued); returns the thread and
    a dict that receives its outcome and progress stages."""
    outcome: dict = {"stages": []}

    def ask():
        try:
            outcome["result"] = queue.render("Hello", None, None, True, lambda share, stage: outcome["stages"].append(stage))
        except Exception as error:  # noqa: BLE001 - the test inspects it
            outcome["error"] = error
        outcome["ended"] = time.monotonic()

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    assert _wait_until(lambda: queue.waiting() == 1, 10), "the job was never queued"
    return thread, outcome


def test_a_job_lost_in_a_redis_restart_is_queued_again_and_then_reported(redis_server, tmp_path):
    """Redis deployed without persistence forgets queued jobs when it restarts: the waiting
    person's job is noticed lost within seconds and queued again; lost a second time, the person
    is told to try again (within 10 s), never left waiting for the job deadline."""
    queue = RenderQueue(Deployment(root=tmp_path, broker=redis_server.url))
    thread, outcome = _waiting_render(queue)
    redis_server.restart()  # empty: --save ""
    assert queue.waiting() == 0
    assert _wait_until(lambda: queue.waiting() == 1, 10), "the lost job was not queued again"
    assert "ended" not in outcome

    redis.Redis.from_url(redis_server.url).flushall()  # lost again
    lost = time.monotonic()
    thread.join(timeout=15)
    assert not thread.is_alive(), "the person was left waiting for a lost job"
    assert outcome["ended"] - lost < 10
    assert isinstance(outcome.get("error"), UserError)
    assert "try again" in str(outcome["error"])


def test_a_person_waiting_while_redis_is_down_is_told_within_seconds(redis_server, tmp_path):
    queue = RenderQueue(Deployment(root=tmp_path, broker=redis_server.url))
    thread, outcome = _waiting_render(queue)
    redis_server.stop()
    try:
        down = time.monotonic()
        thread.join(timeout=20)
        assert not thread.is_alive(), "the person was left waiting while Redis was down"
        assert outcome["ended"] - down < 15
        assert "cannot be reached" in str(outcome.get("error"))
    finally:
        redis_server.start()


def test_the_app_sends_jobs_by_name_and_only_a_worker_has_their_bodies(tmp_path):
    from avatar.jobs import ADAPT_TASK, EXPORT_TASK, RENDER_TASK, make_celery
    from avatar.worker import worker_app

    deploy = Deployment(root=tmp_path, broker="redis://127.0.0.1:1/0")
    names = {RENDER_TASK, EXPORT_TASK, ADAPT_TASK}
    assert not names & set(make_celery(deploy).tasks)
    tasks = worker_app(deploy).tasks
    assert names <= set(tasks) and tasks[ADAPT_TASK].acks_late is False and tasks[RENDER_TASK].acks_late is True


def test_a_worker_needs_a_broker(tmp_path):
    from avatar.worker import run_worker

    with pytest.raises(UserError, match="AVATAR_BROKER"):
        run_worker(Deployment(root=tmp_path))


def test_a_worker_refuses_a_queue_it_does_not_know(tmp_path):
    from avatar.worker import run_worker

    with pytest.raises(UserError, match="--queues takes render, adapt or both"):
        run_worker(Deployment(root=tmp_path, broker="redis://127.0.0.1:1/0"), queues="render,renders")
