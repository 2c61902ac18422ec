"""Render, export and adaptation jobs on Celery workers, with Redis as broker and result backend.

When `AVATAR_BROKER` is set, an app replica does not render: `RenderQueue.render` puts a job on
the `render` queue and waits for it, passing the worker's progress on to the page (dialogue
exports likewise: their answers as render jobs, then one join job); a worker
(`avatar worker`, `run_worker`) renders it with its own in-process `avatar.service.Avatar`,
which stores the video in the shared media storage and indexes it in the shared database, so
every replica can serve it. Delivery is at least once: a job is acknowledged only when it has
finished (`acks_late`), a worker takes one job at a time (prefetch 1, one process per GPU or
CPU slot), a job whose worker process dies is put back at once (`reject_on_worker_lost`) and one
whose whole worker vanished (killed, machine lost) is handed out again once Redis's visibility
timeout passes (the job time limit plus 30 s). Rendering the same answer twice is harmless: it
is stored under the same key and indexed once. Adaptation training is a job on the `adapt`
queue, acknowledged when it starts (it runs for many minutes, longer than a redelivery would
wait); it reports progress to the shared database and publishes the adapted presenter to media
storage. celery and redis are imported only here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable

from celery import Celery, signals

from avatar.config import Deployment
from avatar.errors import UserError

QUEUE = "render"
ADAPT_QUEUE = "adapt"
ADAPT_SECONDS = 6 * 3600  # an adaptation job is killed after this long
LOST_CHECK_SECONDS = 2.0  # how often a waiting replica checks that Redis still has its job
UNREACHABLE_SECONDS = 8.0  # Redis down this long while someone waits: they are told, not left waiting
STREAM_CHUNK = 256 * 1024  # the most bytes of a live video in one Redis stream entry
STREAM_KEEP_S = 600  # a live video's stream is kept this long after its last entry
log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]


def make_celery(deploy: Deployment) -> Celery:
    """The Celery app of `deploy` (its broker is also the result backend)."""
    app = Celery("avatar", broker=deploy.broker, backend=deploy.broker)
    app.conf.update(
        task_default_queue=QUEUE, task_serializer="json", result_serializer="json", accept_content=["json"],
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_time_limit=deploy.job_seconds, task_track_started=True, result_expires=3600,
        broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
        # A job stays invisible to other workers this long after delivery; if its worker never
        # acknowledges it (killed), Redis hands it out again. Swept every 5 s.
        broker_transport_options={"visibility_timeout": deploy.job_seconds + 30, "unacked_restore_interval": 5,
                                  "unacked_restore_throttle": 1},
        result_backend_transport_options={"retry_policy": {"timeout": 5.0}},
    )
    app.task(bind=True, name="avatar.render")(_render_task)
    app.task(bind=True, name="avatar.export")(_export_task)
    # Training runs for many minutes: acknowledged on receipt (a redelivery after the visibility
    # timeout would train twice); a lost worker shows as a stalled job the person restarts.
    app.task(bind=True, name="avatar.adapt", acks_late=False, time_limit=ADAPT_SECONDS)(_adapt_task)
    return app


_worker_service = None


def _service():
    """The worker process's own presenter service: renders here, never enqueues."""
    global _worker_service
    if _worker_service is None:
        from dataclasses import replace

        from avatar.service import Avatar

        model = os.environ.get("AVATAR_MODEL")
        _worker_service = Avatar(model=model or None, deploy=replace(Deployment.from_env(), broker=None))
    return _worker_service


@signals.worker_process_init.connect
def _warm(**kwargs) -> None:
    """Load the default presenter before the first job, not during it."""
    if os.environ.get("AVATAR_WORKER") == "1":
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
                                        recorded_voice=recorded_voice, framing=framing, live=live)
        else:
            answer = _service().say(text, owner=owner, model=model, progress=_progress(task),
                                    recorded_voice=recorded_voice, framing=framing)
    except UserError as error:  # the person's message, passed through as it is
        return {"error": str(error)}
    return {"key": answer.video.stem, "seconds": answer.seconds, "worker": task.request.hostname,
            "worker_seconds": time.perf_counter() - started}


@contextlib.contextmanager
def _published(job: str):
    """A path for a live render (fragmented MP4) whose bytes are added to the Redis stream
    `live_stream(job)` as they are written, then an end mark; the file is removed afterwards."""
    import redis

    from avatar.paths import scratch_dir

    path = scratch_dir() / f"stream-{job}.mp4"
    client = redis.Redis.from_url(Deployment.from_env().broker)
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


def render_job(key: str) -> str:
    """The id of the render job of the answer `key` (one per answer at a time)."""
    return f"render-{key}"


def live_stream(job: str) -> str:
    """The Redis stream a render job's live video is published on."""
    return f"avatar:live:{job}"


def _export_task(task, session: str, owner: str | None, model: str | None, framing: str | None = None) -> dict:
    """Join `session`'s answers (rendered by now, normally by render jobs) into one signed video
    with subtitles, stored under exports/<job id>/ for the replica to fetch."""
    import tempfile
    from pathlib import Path

    from avatar.paths import scratch_dir

    started = time.perf_counter()
    service = _service()
    try:
        with tempfile.TemporaryDirectory(prefix="avatar-export-", dir=scratch_dir()) as tmp:
            video, srt = service.export(session, Path(tmp) / "dialogue.mp4", owner=owner, model=model,
                                        progress=_progress(task), framing=framing)
            keys = {"video": f"exports/{task.request.id}/dialogue.mp4", "srt": f"exports/{task.request.id}/dialogue.srt"}
            service.media.put(keys["video"], video)
            service.media.put(keys["srt"], srt)
    except UserError as error:
        return {"error": str(error)}
    return {**keys, "worker": task.request.hostname, "worker_seconds": time.perf_counter() - started}


def _adapt_task(task, owner: str, model: str | None, consent: dict) -> dict:
    """Adapt presenter `model` to `owner`'s recordings here, reporting to the shared database
    every few seconds, then publish the adapted model to media storage for every replica."""
    from avatar.service import owner_key

    service = _service()
    job = service.adaptation(owner, model)
    key, base = owner_key(owner), job.base.name
    try:
        status = job.start(consent)
    except UserError as error:
        service.store.set_adaptation(key, base, "failed", f"Adapting could not start: {error}", 0.0)
        return {"error": str(error)}
    while status.state not in ("done", "failed"):
        service.store.set_adaptation(key, base, status.state, status.message, status.share)
        status = job.wait(timeout=5)
    if status.state == "done":
        service.publish_adapted(owner, status.model)
        service.store.set_adaptation(key, base, "done", status.message, 1.0, status.model.name)
        return {"model": status.model.name}
    service.store.set_adaptation(key, base, "failed", status.message, 0.0)
    return {"error": status.message}


class RenderQueue:
    """The app's side: enqueue a render and wait for it."""

    def __init__(self, deploy: Deployment):
        import redis

        self.deploy = deploy
        self.celery = make_celery(deploy)
        self._redis = redis.Redis.from_url(deploy.broker)

    def waiting(self) -> int:
        """Render jobs queued and not yet taken by a worker."""
        return int(self._redis.llen(QUEUE))

    def render(self, text: str, owner: str | None, model: str | None, recorded_voice: bool,
               progress: Progress, framing: str | None = None, key: str | None = None,
               stream: bool = False) -> dict:
        """Run one render job and return its result: key (the answer's key), seconds by stage,
        worker, worker_seconds (see `run`). `key`: the answer's key; replicas asking for the
        same answer at once share one job (its id is `render_job(key)`). `stream`: the worker
        publishes the video as it renders (see `follow`)."""
        return self.run("avatar.render", [text, owner, model, recorded_voice, framing, stream], progress,
                        job=render_job(key) if key else None)

    def follow(self, key: str, out: Path, on_bytes: Callable[[], None], finished: threading.Event) -> None:
        """Append the live video of the render job of answer `key` to `out` as its worker
        publishes it, calling `on_bytes` after each piece; returns at its end mark, or once
        `finished` is set and nothing more comes (a job that found its answer rendered publishes nothing)."""
        import redis

        stream, last = live_stream(render_job(key)), "0-0"
        with open(out, "ab") as f:
            while True:
                try:
                    entries = self._redis.xread({stream: last}, block=200, count=64)
                except redis.RedisError:
                    if finished.is_set():
                        return
                    time.sleep(0.5)
                    continue
                for _, items in entries or []:
                    for entry, fields in items:
                        last = entry
                        if b"end" in fields:
                            return
                        f.write(fields[b"data"])
                        f.flush()
                        on_bytes()
                if not entries and finished.is_set():
                    return

    def export(self, session: str, owner: str | None, model: str | None, framing: str | None,
               progress: Progress) -> dict:
        """Run one export job; returns the media keys of its video and srt (see `run`)."""
        return self.run("avatar.export", [session, owner, model, framing], progress)

    def adapt(self, owner: str, model: str | None, consent: dict) -> None:
        """Queue an adaptation job (its progress is reported through the database)."""
        import redis

        try:
            self.celery.send_task("avatar.adapt", args=[owner, model, consent], queue=ADAPT_QUEUE)
        except redis.RedisError:
            raise UserError("the training service cannot be reached; try again in a minute.") from None

    def run(self, task: str, args: list, progress: Progress, job: str | None = None) -> dict:
        """Run job `task` with `args` and return its result. UserError when the queue is full,
        the job failed for the person's reason, it was lost twice, or no worker finished it in time.

        The job's states arrive through Redis pub/sub on the result key (Celery publishes every
        state it stores there), so a finished job is seen at once, not at the next poll; the
        stored state is also read every second, which covers a message missed while Redis
        restarted. A marker key lives beside the job for as long as anyone waits for it: Redis
        deployed without persistence forgets queued jobs when it restarts, and a missing marker
        says so within seconds. A lost job is sent again once, under the same id (a worker still
        rendering the first delivery reports to the same key; rendering twice is harmless); lost
        again, the person is told to try again. `job`: the job's id (default: a new one); a
        job with that id already waited for is joined, not sent again."""
        import uuid

        import redis

        job = job or str(uuid.uuid4())
        marker = f"avatar:job:{job}"
        # Long enough for one delivery, one redelivery after a lost worker, and both runs; a job
        # still queued after that is dropped by the worker that finds it (nobody waits for it).
        wait = 2 * self.deploy.job_seconds + 60
        try:
            if self.waiting() >= self.deploy.max_waiting:
                raise UserError("the presenter is busy with other people's answers; try again in a minute.")
            updates = self._redis.pubsub(ignore_subscribe_messages=True)
            updates.subscribe(self.celery.backend.get_key_for_task(job))  # before sending: nothing is missed
            result = self._send(task, args, job, marker, wait)
        except redis.RedisError:
            raise UserError("the render service cannot be reached; try again in a minute.") from None
        progress(0.01, "queued")
        deadline = time.monotonic() + wait
        next_look, sent_again, unreachable_since = time.monotonic() + LOST_CHECK_SECONDS, False, None
        try:
            while True:
                state, info = self._next_state(updates, result)
                if state == "SUCCESS":
                    break
                if state == "PROGRESS" and isinstance(info, dict):
                    progress(info.get("share", 0.0), info.get("stage", "rendering"))
                elif state == "FAILURE":
                    log.error("%s job %s failed: %r", task, job, info)
                    raise RuntimeError(f"{task} job failed: {info!r}")
                if time.monotonic() > deadline:
                    result.revoke()
                    raise UserError("no renderer finished this in time; try again in a minute.")
                if time.monotonic() > next_look:
                    next_look = time.monotonic() + LOST_CHECK_SECONDS
                    lost = self._lost(marker)
                    if lost is None:
                        unreachable_since = unreachable_since or time.monotonic()
                        if time.monotonic() - unreachable_since > UNREACHABLE_SECONDS:
                            raise UserError("the render service cannot be reached; try again in a minute.")
                        continue
                    unreachable_since = None
                    if lost:
                        if sent_again:
                            raise UserError("the render service restarted and lost this request twice; "
                                            "try again in a minute.")
                        log.warning("%s job %s was lost (Redis restarted empty); sending it again", task, job)
                        result, sent_again = self._resend(task, args, job, marker, wait), True
                        progress(0.01, "queued")
        finally:
            updates.close()
            self._forget_marker(marker)
        result.forget()
        if "error" in info:
            raise UserError(info["error"])
        return info

    def _send(self, task: str, args: list, job: str, marker: str, wait: int):
        """Mark `job` as waited for, then queue it (the marker first: a lost marker never
        outlives its job); when someone already waits for `job`, join it instead."""
        if not self._redis.set(marker, "waiting", ex=wait, nx=True):
            log.info("%s job %s is already queued or running: waiting for it too", task, job)
            return self.celery.AsyncResult(job)
        result = self.celery.send_task(task, args=args, task_id=job, expires=wait)
        # Celery subscribes its own listener to the job; `run` listens itself, so drop Celery's
        # now, while Redis answers (it would otherwise unsubscribe when the result is collected,
        # perhaps while Redis is down, and log a traceback).
        self.celery.backend.result_consumer.cancel_for(job)
        return result

    def _resend(self, task: str, args: list, job: str, marker: str, wait: int):
        """`_send` again after a loss; Redis still restarting counts as a second loss."""
        import redis

        try:
            return self._send(task, args, job, marker, wait)
        except redis.RedisError:
            raise UserError("the render service restarted and lost this request; try again in a minute.") from None

    def _lost(self, marker: str) -> bool | None:
        """Whether Redis forgot the job (its marker is gone); None while Redis is unreachable."""
        import redis

        try:
            return not self._redis.exists(marker)
        except redis.RedisError:
            return None

    def _forget_marker(self, marker: str) -> None:
        import redis

        try:
            self._redis.delete(marker)
        except redis.RedisError:
            pass  # it expires on its own

    def _next_state(self, updates, result) -> tuple[str, object]:
        """The job's next published state, or its stored state after a quiet second."""
        import redis

        try:
            message = updates.get_message(timeout=1.0)
            if message is not None and message["type"] == "message":
                meta = self.celery.backend.decode_result(message["data"])
                return meta["status"], meta["result"]
            return result.state, result.info
        except redis.RedisError:  # Redis restarting: the next look reconnects and subscribes again
            time.sleep(0.5)
            return "PENDING", None


def run_worker(gpu: int | None = None, loglevel: str = "INFO", queues: tuple[str, ...] = (QUEUE, ADAPT_QUEUE)) -> None:
    """Run a worker for this machine's deployment (`AVATAR_BROKER` must be set): one job at a
    time from `queues` (renders and exports on "render", adaptation training on "adapt"), on
    GPU `gpu` (its only visible device) or on the CPU."""
    deploy = Deployment.from_env()
    if not deploy.broker:
        raise UserError("set AVATAR_BROKER (e.g. redis://127.0.0.1:6379/0) to run a render worker.")
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    os.environ["AVATAR_WORKER"] = "1"
    name = f"avatar-{'gpu' + str(gpu) if gpu is not None else 'cpu'}-{os.getpid()}@%h"
    make_celery(deploy).worker_main(["worker", "--concurrency=1", "--pool=prefork", f"--queues={','.join(queues)}",
                                     f"--loglevel={loglevel}", f"--hostname={name}", "--without-gossip",
                                     "--without-mingle"])
