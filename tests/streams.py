"""Reading a live answer (avatar.serving.live.LiveAnswer) the way the page does, for tests."""

from __future__ import annotations


def read_to_end(live, timeout: float) -> tuple[bytes, bool]:
    """Follow `live` from its first playable byte (waiting up to `timeout` s for it) to its end:
    (every byte it streamed, whether any arrived while it was still rendering)."""
    streamed, while_rendering = b"", False
    with live.following():
        assert live.wait_playable(timeout=timeout)
        while True:
            done = live.done  # read before the bytes: nothing written before it was done is missed
            data = live.read(len(streamed))
            streamed += data
            while_rendering |= bool(data) and not done
            if done and not data:
                return streamed, while_rendering
