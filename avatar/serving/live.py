"""An answer that plays while it renders: its fragmented MP4 grows in a file (see
`avatar.media.encode.VideoWriter`'s `live`), and every browser that asked for it follows the file
as it grows. When nobody follows it any more, or nobody reads what it is sent, its render stops."""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Iterator


ABANDONED = "nobody was watching any more"  # why a live answer has no video (its `error`)
SUPERSEDED = "a newer question took its place"  # everybody who asked it has asked something else


class AnswerAbandoned(Exception):
    """Everyone who was watching a live answer went away before it was finished."""


class LiveAnswer:
    """One answer being rendered and streamed. `id` is the unguessable name a browser fetches it
    by; `path` the growing fragmented MP4 (unsigned, labelled in every frame). Once done, either
    `answer` holds the finished, signed answer (as cached) or `error` says why there is none.

    Nobody watching: when it has had no reader (see `following`) for `grace_s` (a browser is told
    where to fetch it and connects within that; a page asking the same answer again leaves and
    comes back), `check_watched` raises AnswerAbandoned and the render stops. A reader whose
    current send has waited over `stall_s` is not watching either: a client that opens the
    stream and never reads it (the page's player reads every byte as it comes, see `stream` in
    the app's script; the route sends 16 kB pieces, and a connection that takes less than that
    a second cannot play an answer anyway: a finished one is about 30 kB a second).

    Asked by: the sessions (pages, API clients) that asked for it (see `asked_by`). Each has one
    new answer in flight: when every one that asked has asked something else, it is no longer
    watched either.
    """

    def __init__(self, key: str, text: str, folder: Path, grace_s: float = 3.0, stall_s: float = 1.0):
        self.key, self.text, self.grace_s, self.stall_s = key, text, grace_s, stall_s
        self.id = secrets.token_urlsafe(18)
        self.path = Path(folder) / f"live-{self.id}.mp4"
        self.answer: Any = None
        self.error: str | None = None
        self.finished_at: float | None = None
        self._first_frame_at: float | None = None
        self._readers: list[Reader] = []
        self._unread_since = time.monotonic()
        self._askers: set[str] = set()
        self._superseded = False
        self._changed = threading.Condition()

    @property
    def done(self) -> bool:
        return self.finished_at is not None

    def frame_written(self) -> None:
        """The render wrote a frame (the first one makes the answer playable)."""
        if self._first_frame_at is None:
            with self._changed:
                self._first_frame_at = time.monotonic()
                self._changed.notify_all()

    def finish(self, answer: Any = None, error: str | None = None) -> None:
        with self._changed:
            self.answer, self.error, self.finished_at = answer, error, time.monotonic()
            self._changed.notify_all()

    def wait_playable(self, timeout: float | None = None) -> bool:
        """Block until the first frame is written or the answer is done (True), or `timeout` passes."""
        with self._changed:
            return self._changed.wait_for(lambda: self._first_frame_at is not None or self.done, timeout)

    def wait_done(self, timeout: float | None = None) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.done, timeout)

    @contextlib.contextmanager
    def following(self) -> Iterator[Reader]:
        """Count one reader while the block runs (a browser fetching the stream, or a request
        waiting for its first frame); one that is sent bytes reports each send on the `Reader`."""
        reader = Reader()
        with self._changed:
            self._readers.append(reader)
        try:
            yield reader
        finally:
            with self._changed:
                self._readers.remove(reader)
                if not self._readers:
                    self._unread_since = time.monotonic()

    def asked_by(self, session: str) -> None:
        """`session` wants this answer (and no other new one: see `asked_otherwise`)."""
        with self._changed:
            self._askers.add(session)

    def asked_otherwise(self, session: str) -> None:
        """`session` asked for another answer: once no session that asked this one still wants it, it stops."""
        with self._changed:
            if session in self._askers:
                self._askers.discard(session)
                self._superseded = not self._askers

    @property
    def superseded(self) -> bool:
        return self._superseded

    def watched(self) -> bool:
        """Whether anyone still wants this answer (see the class)."""
        now = time.monotonic()
        with self._changed:
            if self._superseded:
                return False
            readers = list(self._readers)
            if not readers:
                return now - self._unread_since < self.grace_s
        return any(reader.blocked_since is None or now - reader.blocked_since < self.stall_s for reader in readers)

    def check_watched(self) -> None:
        if not self.watched():
            raise AnswerAbandoned(SUPERSEDED if self._superseded else ABANDONED)

    def streamed(self) -> bool:
        """Whether any of it was streamed (an answer found already rendered streams nothing)."""
        return self._size() > 0

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def read(self, offset: int, limit: int = 1 << 20) -> bytes:
        """Up to `limit` bytes of the stream from `offset` (b"" when nothing new is written yet)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(offset)
                return f.read(limit)
        except FileNotFoundError:
            return b""


class Reader:
    """One reader of a live answer (see `LiveAnswer.following`): since when its current send
    waits for the connection to take it (None: not sending)."""

    def __init__(self):
        self.blocked_since: float | None = None

    def sending(self) -> None:
        """Bytes are handed to the connection now (call `taken` once it took them)."""
        self.blocked_since = time.monotonic()

    def taken(self) -> None:
        self.blocked_since = None
