"""People's recorded answers: each person's own (by the hash of their login or visitor token,
never their name), the published ones every visitor gets, and visitors without a login, who
keep theirs across reloads by a random token in their browser and lose them after some days away.
A room of the facade (`avatar.service.Avatar.people`)."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from pathlib import Path

from avatar.config import MediaLimits, RenderConfig
from avatar.driver import RecordedClip, RecordedClips
from avatar.errors import UserError
from avatar.store import Store

log = logging.getLogger(__name__)

PUBLISHED = "published"  # the owner of the recordings every visitor gets
SWEEP_EVERY_S = 3600  # visitors away too long are looked for at most this often


def owner_key(owner: str) -> str:
    """A person's key in the shared state and storage: a hash (no name is stored, and none can
    reach outside its folder)."""
    if not owner:
        raise UserError("this request has no session; reload the page.")
    return hashlib.sha256(owner.encode()).hexdigest()[:24]


class People:
    """Recordings in `store` (rows) and `media` (files), drawn with `render`; visitors not seen
    for `visitor_days` are forgotten with their recordings."""

    def __init__(self, store: Store, media, render: RenderConfig, visitor_days: float):
        self.store, self.media, self.render, self.visitor_days = store, media, render, visitor_days
        self._sweep_lock, self._swept = threading.Lock(), float("-inf")

    def clips(self, owner: str) -> RecordedClips:
        """`owner`'s own recordings."""
        return RecordedClips(self.store, self.media, owner_key(owner), render=self.render)

    def published(self) -> RecordedClips:
        """The recordings every visitor gets (an operator published them)."""
        return RecordedClips(self.store, self.media, PUBLISHED, render=self.render)

    def recording(self, owner: str | None, text: str) -> RecordedClip | None:
        """The recording used for `text`: `owner`'s own, else a published one."""
        own = self.clips(owner).get(text) if owner else None
        return own or self.published().get(text)

    def save(self, owner: str, text: str, video: Path, limits: MediaLimits, expected: float,
             source: str = "app") -> RecordedClip:
        """Check `video` (within `limits`; its speech about `expected` seconds) and keep it as
        `owner`'s recording of `text`."""
        clips = RecordedClips(self.store, self.media, owner_key(owner), render=self.render, limits=limits)
        return clips.save(text, Path(video), source=source, expected=expected)

    def recorded_lines(self, owner: str) -> list[dict]:
        """`owner`'s recordings, oldest first: text, duration (s), created (ISO 8601 UTC)."""
        rows = self.store.recordings_of(owner_key(owner))
        return [{k: row[k] for k in ("text", "duration", "created")} for row in rows]

    def any_recorded(self, owner: str | None) -> bool:
        """Whether `owner` has recordings of their own, or any are published."""
        return bool((owner and self.store.recordings_of(owner_key(owner))) or self.store.recordings_of(PUBLISHED))

    def visitor(self, token: str) -> str:
        """The owner of a visitor without a login, from the random token their browser keeps
        (so their recordings survive reloads and new tabs), noted as seen now. Visitors not
        seen for `visitor_days` lose their recordings (looked for at most hourly)."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{32,64}", token or ""):
            raise UserError("this browser's visitor token is not valid; reload the page.")
        owner = f"visitor:{token}"
        self.store.visitor_seen(owner_key(owner))
        with self._sweep_lock:
            due = time.monotonic() - self._swept > SWEEP_EVERY_S
            if due:
                self._swept = time.monotonic()
        if due:
            self.forget_absent_visitors()
        return owner

    def forget_absent_visitors(self) -> int:
        """Delete the recordings (and the answers made from them) of visitors not seen for
        `visitor_days`; returns how many visitors were forgotten."""
        absent = self.store.visitors_unseen_since(time.time() - self.visitor_days * 86400)
        for key in absent:
            clips = RecordedClips(self.store, self.media, key, render=self.render)
            for row in self.store.recordings_of(key):
                clips.delete(row["text"])
            self.store.forget_visitor(key)
        if absent:
            log.info("forgot the recordings of %d visitors not seen for %g days", len(absent), self.visitor_days)
        return len(absent)

    def forget(self, owner: str, text: str) -> list[str] | None:
        """Delete `owner`'s recording of `text` and every answer rendered from it; returns the
        deleted answers' file names (None when there was no recording)."""
        return self.clips(owner).delete(text) if (text or "").strip() else None

    def publish(self, owner: str, text: str) -> RecordedClip:
        """Make `owner`'s recording of `text` the one every visitor's reply to it uses (an
        operator's action: the app allows it only to accounts with the operator role)."""
        own = self.clips(owner).get(text)
        if own is None:
            raise UserError("record this line first; only your own recordings can be published.")
        return self.published().save(own.text, own.video, source=f"published from {own.source}")

    def unpublish(self, text: str) -> list[str] | None:
        """Withdraw the recording published for `text` (an operator's action): every visitor gets
        the synthesised answer again. Returns the deleted answers' file names (None when nothing
        was published for `text`)."""
        return self.published().delete(text) if (text or "").strip() else None
