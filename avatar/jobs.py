"""The app's side of render, export and adaptation jobs: Celery with Redis as broker and result backend.

When `AVATAR_BROKER` is set, an app replica does not render: `RenderQueue.render` puts a job on
the `render` queue by its name and waits for it, passing the worker's progress on to the page
(dialogue exports likewise: their answers as render jobs, then one join job), and `follow` reads
the video a worker publishes to Redis as it renders. The job bodies run on `avatar worker`
processes (`avatar.worker`), which store the video in the shared media storage and index it in the
shared database, so every replica can serve it. Delivery is at least once: a job is acknowledged
only when it has finished (`acks_late`), a worker takes one job at a time (prefetch 1), a job
whose worker process dies is put back at once (`reject_on_worker_lost`) and one whose whole
worker vanished (killed, machine lost) is handed out again once Redis's visibility timeout
passes (the job time limit plus 30 s). Rendering the same answer twice is harmless: it is stored
under the same key and indexed once. Adaptation training is a job on the `adapt` queue; it
reports progress to the shared database. Nothing here knows the service; celery and redis are
imported only here and in `avatar.worker`.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from celery import Celery

from avatar.config import Deployment
from avatar.errors import UserError

QUEUE = "render"
ADAPT_QUEUE = "adapt"
RENDER_TASK, EXPORT_TASK, ADAPT_TASK = "avatar.render", "avatar.export", "avatar.adapt"  # the jobs, by name
LOST_CHECK_SECONDS = 2.0  # how often a waiting replica checks that Redis still has its job
UNREACHABLE_SECONDS = 8.0  # Redis down this long while someone waits: they are told, not left waiting
log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]


def make_celery(deploy: Deployment) -> Celery:
    """The Celery app of `deploy` (its broker is also the result backend), without job bodies:
    jobs are sent by name (a worker registers the bodies, see `avatar.worker`)."""
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
    return app


def render_job(key: str) -> str:
    """The id of the render job of the answer `key` (one per answer at a time)."""
    return f"render-{key}"


def live_stream(job: str) -> str:
    """The Redis stream a render job's live video is published on."""
    return f"avatar:live:{job}"


def live_watch(job: str) -> str:
    """The Redis key that exists while a replica has someone watching a render job's live video
    (kept alive by `RenderQueue.follow`; the worker stops the render when it is gone)."""
    return f"avatar:live:watched-{job}"


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
        return self.run(RENDER_TASK, [text, owner, model, recorded_voice, framing, stream], progress,
                        job=render_job(key) if key else None)

    def follow(self, key: str, out: Path, on_bytes: Callable[[], None], finished: threading.Event,
               watched: Callable[[], bool] = lambda: True, grace_s: float = 3.0) -> None:
        """Append the live video of the render job of answer `key` to `out` as its worker
        publishes it, calling `on_bytes` after each piece; returns at its end mark, or once
        `finished` is set and nothing more comes (a job that found its answer rendered publishes nothing).
        While `watched()` the job's watch key (`live_watch`) is kept alive; once nobody has
        watched for `grace_s` it expires and the worker stops rendering."""
        import redis

        stream, last = live_stream(render_job(key)), "0-0"
        watch, refreshed = live_watch(render_job(key)), float("-inf")
        with open(out, "ab") as f:
            while True:
                try:
                    # Every replica following the job refreshes the key while it has a reader, three
                    # times within its life: often enough that it never lapses while watched.
                    if time.monotonic() - refreshed >= grace_s / 3 and watched():
                        self._redis.set(watch, 1, px=max(1, round(grace_s * 1000)))
                        refreshed = time.monotonic()
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
        return self.run(EXPORT_TASK, [session, owner, model, framing], progress)

    def adapt(self, owner: str, model: str | None, consent: dict) -> None:
        """Queue an adaptation job (its progress is reported through the database)."""
        import redis

        try:
            self.celery.send_task(ADAPT_TASK, args=[owner, model, consent], queue=ADAPT_QUEUE)
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
