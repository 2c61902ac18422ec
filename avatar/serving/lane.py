"""The render lane: one heavy job at a time in this process (renders, recording checks, exports),
people's before background work, and fair between parties (clients by their address, or people):
while several wait, they take turns, so a party that asks for many renders waits behind its own
ones, not in front of everybody else's.

One at a time because two renders at once in one process finished four answers little sooner and
made each one much slower, its first frame too (`bench/lanes.py`): on 2 cores one render already
keeps a core busy in Python, and ffmpeg and the voice take part of the other."""

from __future__ import annotations

import collections
import contextlib
import threading
from typing import Iterator


class RenderLane:
    """See the module. `person(party)` holds it for a person's job; `try_background` /
    `release_background` for background work; `people_waiting` tells background work to stop."""

    def __init__(self):
        self._changed = threading.Condition()
        self._busy = False
        # party -> its waiting tickets in arrival order; the parties in turn order (the one served
        # last goes to the back).
        self._waiting: collections.OrderedDict[str, collections.deque] = collections.OrderedDict()

    @contextlib.contextmanager
    def person(self, party: str = "") -> Iterator[None]:
        """Hold the lane for `party`'s job, waiting for its turn (see the module)."""
        ticket = object()
        with self._changed:
            self._waiting.setdefault(party, collections.deque()).append(ticket)
            try:
                self._changed.wait_for(lambda: not self._busy and self._next() is ticket)
            except BaseException:
                self._drop(party, ticket)
                raise
            self._drop(party, ticket)
            if party in self._waiting:  # its turn is over: its next job waits behind the others
                self._waiting.move_to_end(party)
            self._busy = True
        try:
            yield
        finally:
            self._release()

    def try_background(self) -> bool:
        """Take the lane for background work only when nobody holds it or waits for it (then
        call `release_background`)."""
        with self._changed:
            if self._busy or self._waiting:
                return False
            self._busy = True
            return True

    def release_background(self) -> None:
        self._release()

    def people_waiting(self) -> int:
        with self._changed:
            return sum(len(tickets) for tickets in self._waiting.values())

    def _next(self):
        """The ticket whose turn it is: the first party's first (a party without tickets is removed)."""
        return next((tickets[0] for tickets in self._waiting.values()), None)

    def _drop(self, party: str, ticket) -> None:
        tickets = self._waiting.get(party)
        if tickets is not None and ticket in tickets:
            tickets.remove(ticket)
            if not tickets:
                del self._waiting[party]

    def _release(self) -> None:
        with self._changed:
            self._busy = False
            self._changed.notify_all()
