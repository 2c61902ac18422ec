"""The worker's side of render, export and adaptation jobs (`avatar worker`): the job bodies.

A worker takes one job at a time from its queues (see `avatar.jobs` for the delivery rules) and
runs it with its own in-process `avatar.service.Avatar`, built once per worker process from the
deployment it was started with, rendering here (never enqueueing). A render job can publish its
video to a Redis stream as it renders, for the waiting replica to follow (`RenderQueue.follow`).
Adaptation jobs are acknowledged when they start (they run for many minutes, longer than a
redelivery would wait); the service reports their progress and publishes the adapted presenter.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from celery import Celery, signals

from avatar.config import Deployment
from avatar.errors import UserError
from avatar.jobs import (ADAPT_QUEUE, ADAPT_TASK, EXPORT_TASK, QUEUE, RENDER_TASK, Progress, live_stream, live_watch,
                         make_celery)
from avatar.serving.live import ABANDONED, AnswerAbandoned
from avatar.paths import scratch_dir
from avatar.service import Avatar, open_service

ADAPT_SECONDS = 6 * 3600  # an adaptation job is killed after this long
STREAM_CHUNK = 256 * 1024  # the most bytes of a live video in one Redis stream entry
STREAM_KEEP_S = 600  # a live video's stream is kept this long after its last entry
WATCH_EVERY = 12  # frames between two looks at whether anyone still watches a streamed render

_deploy: Deployment | None = None  # the deployment this worker was started with (see `run_worker`)
_worker_service: Avatar | None = None


def worker_app(deploy: Deployment) -> Celery:
    """The Celery app of a worker for `deploy`: the app's, with the job bodies registered."""
    app = make_celery(deploy)
    app.task(bind=True, name=RENDER_TASK)(_render_task)
    app.task(bind=True, name=EXPORT_TASK)(_export_task)
    # Training runs for many minutes: acknowledged on receipt (a redelivery after the visibility
    # timeout would train twice); a lost worker shows as a stalled job the person restarts.
    app.task(bind=True, name=ADAPT_TASK, acks_late=False, time_limit=ADAPT_SECONDS)(_adapt_task)
    return app


def run_worker(deploy: Deployment, gpu: int | None = None, loglevel: str = "INFO",
               queues: str = f"{QUEUE},{ADAPT_QUEUE}") -> None:
    """Run a worker for `deploy` (it needs a broker): one job at a time from `queues` (comma-
    separated: renders and exports on "render", adaptation training on "adapt"), on GPU `gpu`
    (its only visible device) or on the CPU."""
    global _deploy
    chosen = [queue.strip() for queue in queues.split(",") if queue.strip()]
    if not chosen or set(chosen) - {QUEUE, ADAPT_QUEUE}:
        raise UserError(f"--queues takes {QUEUE}, {ADAPT_QUEUE} or both (comma-separated), not {queues!r}.")
    if not deploy.broker:
        raise UserError("set AVATAR_BROKER (e.g. redis://127.0.0.1:6379/0) to run a render worker.")
    if gpu is not None:  # read by onnxruntime and torch in the worker processes: the one device they see
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    _deploy = deploy  # the worker processes are forked from this one: they see it too
    signals.worker_process_init.connect(_warm, weak=False)
    name = f"avatar-{'gpu' + str(gpu) if gpu is not None else 'cpu'}-{os.getpid()}@%h"
    worker_app(deploy).worker_main(["worker", "--concurrency=1", "--pool=prefork", f"--queues={','.join(chosen)}",
                                    f"--loglevel={loglevel}", f"--hostname={name}", "--without-gossip",
                                    "--without-mingle"])


def _service() -> Avatar:
    """The worker process's own presenter service: renders here, never enqueues."""
    global _worker_service
    if _worker_service is None:
        _worker_service = open_service(replace(_deploy, broker=None))
    return _worker_service


def _warm(**kwargs) -> None:
    """Load the default presenter before the first job, not during it."""
    _service()


def _progress(task) -> Progress:
    """Progress reported as the job's PROGRESS state (the waiting replica passes it on)."""
    return lambda share, stage: task.update_state(state="PROGRESS", meta={"share": share, "stage": stage})


def _render_task(task, text: str, owner: str | None, model: str | None, recorded_voice: bool,
                 framing: str | None = None, stream: bool = False) -> dict:
    """Render one answer; `stream`: publish it to Redis as it renders (see `RenderQueue.follow`)."""
    started = time.perf_counter()
    try:
        if stream:
            with _published(task.request.id) as live:
                answer = _service().say(text, owner=owner, model=model, progress=_progress(task),
                                        recorded_voice=recorded_voice, framing=framing, live=live,
                                        on_frame=_stop_when_unwatched(task.request.id))
        else:
            answer = _service().say(text, owner=owner, model=model, progress=_progress(task),
                                    recorded_voice=recorded_voice, framing=framing)
    except UserError as error:  # the person's message, passed through as it is
        return {"error": str(error)}
    except AnswerAbandoned:  # every replica's viewer left: the worker is free for the next answer
        return {"error": ABANDONED}
    return {"key": answer.video.stem, "seconds": answer.seconds, "worker": task.request.hostname,
            "worker_seconds": time.perf_counter() - started}


def _stop_when_unwatched(job: str):
    """on_frame for a streamed render: every `WATCH_EVERY` frames, AnswerAbandoned when no
    replica keeps the job's watch key alive any more (see `RenderQueue.follow`). A broker that
    cannot be asked stops nothing."""
    import redis

    client = redis.Redis.from_url(_deploy.broker)

    def on_frame(done: int) -> None:
        if done % WATCH_EVERY:
            return
        try:
            watched = client.exists(live_watch(job))
        except redis.RedisError:
            return
        if not watched:
            raise AnswerAbandoned(f"nobody is watching the render job {job} any more")

    return on_frame


@contextlib.contextmanager
def _published(job: str):
    """A path for a live render (fragmented MP4) whose bytes are added to the Redis stream
    `live_stream(job)` as they are written, then an end mark; the file is removed afterwards."""
    import redis

    path = scratch_dir() / f"stream-{job}.mp4"
    client = redis.Redis.from_url(_deploy.broker)
    stream, finished = live_stream(job), threading.Event()

    def publish() -> None:
        offset = 0
        while True:
            last_look = finished.is_set()  # read before the bytes: nothing written before the end is missed
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    data = f.read(STREAM_CHUNK)
            except FileNotFoundError:
                data = b""
            if data:
                offset += len(data)
                client.xadd(stream, {"data": data})
                client.expire(stream, STREAM_KEEP_S)
            elif last_look:
                return
            else:
                time.sleep(0.02)

    publisher = threading.Thread(target=publish, name=f"publish-{job}", daemon=True)
    publisher.start()
    try:
        yield path
    finally:
        finished.set()
        publisher.join()
        client.xadd(stream, {"end": "1"})
        client.expire(stream, STREAM_KEEP_S)
        path.unlink(missing_ok=True)


def _export_task(task, session: str, owner: str | None, model: str | None, framing: str | None = None) -> dict:
    """Join `session`'s answers (rendered by now, normally by render jobs) into one signed video
    with subtitles, stored under exports/<job id>/ for the replica to fetch."""
    started = time.perf_counter()
    service = _service()
    try:
        with tempfile.TemporaryDirectory(prefix="avatar-export-", dir=scratch_dir()) as tmp:
            video, srt = service.export(session, Path(tmp) / "dialogue.mp4", owner=owner, model=model,
                                        progress=_progress(task), framing=framing)
            folder = f"exports/{task.request.id}"
            keys = {"video": f"{folder}/dialogue.mp4", "srt": f"{folder}/dialogue.srt"}
            service.media.put(keys["video"], video)
            service.media.put(keys["srt"], srt)
    except UserError as error:
        return {"error": str(error)}
    return {**keys, "worker": task.request.hostname, "worker_seconds": time.perf_counter() - started}


def _adapt_task(task, owner: str, model: str | None, consent: dict) -> dict:
    """Adapt presenter `model` to `owner`'s recordings here (see `Avatar.train_adaptation`)."""
    return _service().train_adaptation(owner, model, consent)
