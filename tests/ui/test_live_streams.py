"""The live-stream route (`avatar.ui.server.LiveStreams`) served by a real uvicorn on a local socket,
over a stand-in render that writes a growing answer while anyone watches it: a client that opens
the stream and never reads it stops counting as a watcher within seconds (the render stops), a
client that reads keeps it going to the end."""

import socket
import threading
import time

import pytest

from avatar.serving.live import LiveAnswer
from avatar.ui.server import LiveStreams
from avatar.ui.shared import Shared

ANSWER_BYTES = 16 << 20  # far more than the socket buffers could hold for a client that never reads
PIECE = 64 << 10  # every 20 ms: 3.2 MB/s, ~15 times the bytes a render of the shipped presenter makes


class Render:
    """Writes `live`'s file a piece every 20 ms while it is watched, as a render streams an answer."""

    def __init__(self, live: LiveAnswer):
        self.live, self.written = live, 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with open(self.live.path, "ab") as f:
            while self.written < ANSWER_BYTES:
                if not self.live.watched():
                    self.live.finish(error="nobody was watching any more")
                    return
                f.write(b"\0" * PIECE)
                f.flush()
                self.written += PIECE
                self.live.frame_written()
                time.sleep(0.02)
        self.live.finish(answer="done")


@pytest.fixture
def streams(tmp_path):
    """(port, live answers by id) of a uvicorn serving only the live-stream route."""
    import uvicorn

    answers: dict[str, LiveAnswer] = {}

    class Service:
        def live(self, live_id):
            return answers.get(live_id)

    async def nothing_else(scope, receive, send):
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(LiveStreams(nothing_else, Shared(service=Service())), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield port, answers
    server.should_exit = True
    thread.join(timeout=10)


def _open(port: int, live: LiveAnswer) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(f"GET /avatar-live/{live.id}.mp4 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return client


def test_a_stream_opened_and_never_read_stops_its_render(streams, tmp_path):
    port, answers = streams
    live = LiveAnswer("unread", "an answer", tmp_path, grace_s=0.3, stall_s=0.3)
    answers[live.id] = live
    client = _open(port, live)  # ... and never read
    try:
        render = Render(live)
        assert live.wait_done(timeout=30)
        assert live.error == "nobody was watching any more"
        assert render.written < ANSWER_BYTES / 4  # stopped once the buffers were full, not at the end
    finally:
        client.close()


def test_a_stream_that_is_read_keeps_its_render_going_to_the_end(streams, tmp_path):
    port, answers = streams
    live = LiveAnswer("read", "an answer", tmp_path, grace_s=0.3, stall_s=0.3)
    answers[live.id] = live
    client = _open(port, live)
    received = 0
    try:
        Render(live)
        client.settimeout(30)
        while chunk := client.recv(1 << 20):  # read as the page's player does, every byte as it comes
            received += len(chunk)
            if live.done and received > ANSWER_BYTES:
                break
    finally:
        client.close()
    assert live.error is None and live.answer == "done" and received > ANSWER_BYTES
