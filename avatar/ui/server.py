"""The app's HTTP side: the middleware around Gradio's routes (public API only, live answer
streams, logins, upload owners, bad requests) and how it is launched and queued."""

from __future__ import annotations

import asyncio
import re
import socket

import gradio as gr

from avatar.service import Deployment, served_folders
from avatar.ui.gate import BadRequests, Logins, Uploads
from avatar.ui.player import LIVE_ROUTE
from avatar.ui.shared import ROOT, Shared, log, static


_NAMED_CALL = re.compile(r"/gradio_api/call/(?:v2/)?([^/]+)")


class PublicApiOnly:
    """ASGI middleware: `/gradio_api/call/NAME` reaches only the handlers published as API
    (`api_name="..."`); page events (api_name=False: Gradio names them false, false_1, ...) are
    answered 404 by name. The page itself reaches every handler through the queue, and each
    handler checks its inputs as if they came from anyone."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        match = _NAMED_CALL.search(scope.get("path", "")) if scope["type"] == "http" else None
        if match and match.group(1) not in public_api(scope.get("app")):
            from starlette.responses import PlainTextResponse

            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)


# The login page (Gradio's own form says only "Incorrect credentials" whatever went wrong).
LOGIN_MESSAGE = ("<b>Synthetic presenter</b>: log in with the account your team gave you. After 5 wrong passwords "
                 "in a row, each next try waits longer (up to 5 minutes).")

LIVE_PATH = re.compile(rf"/{LIVE_ROUTE}/([A-Za-z0-9_-]+)\.mp4$")


class LiveStreams:
    """ASGI middleware: `GET .../avatar-live/ID.mp4` follows a live answer (see `chat.ChatTab.play`): its
    fragmented MP4 as it grows, until it is finished (404 for an unknown or expired id). The id
    is unguessable and given only to the session that asked; a browser that stops reading stops
    counting as a watcher (the render stops when nobody watches)."""

    def __init__(self, app, shared: Shared):
        self.app, self.shared = app, shared

    async def __call__(self, scope, receive, send):
        match = LIVE_PATH.search(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        from starlette.responses import PlainTextResponse, StreamingResponse

        live = self.shared.service.live(match.group(1))
        if live is None:
            response = PlainTextResponse("Not Found", status_code=404)
        else:
            small_send_buffer(receive)
            response = StreamingResponse(follow(live), media_type="video/mp4", headers={"Cache-Control": "no-store"})
        await response(scope, receive, send)


STREAM_CHUNK = 16 * 1024  # see `LiveAnswer.stall_s`


async def follow(live):
    """The bytes of a live answer's stream as they are written, to its end, each chunk's send
    reported to the answer (a reader whose sends stop being taken stops counting as watching)."""
    offset = 0
    with live.following() as reader:
        while True:
            done = live.done  # read before the bytes: nothing written before it was done is missed
            data = live.read(offset, STREAM_CHUNK)
            if data:
                offset += len(data)
                reader.sending()
                yield data
                reader.taken()
            elif done:
                return
            else:
                await asyncio.sleep(0.02)


def small_send_buffer(receive, size: int = 32 * 1024) -> None:
    """Keep a live stream's socket buffer small. Linux grows a socket's send buffer to megabytes
    (on localhost a whole answer), so a client that never reads would take every byte and look
    like a watcher to the end of the render; with a small buffer its sends wait and it stops
    counting (see `LiveAnswer.watched`). The socket is reached through uvicorn's request cycle
    (its `receive` is a method of it); under another server nothing changes."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        except OSError:  # not a TCP socket (a Unix socket behind a proxy): its buffer stays
            log.debug("the live stream's send buffer could not be set")


def public_api(app) -> set[str]:
    blocks = app.get_blocks() if app is not None and hasattr(app, "get_blocks") else None
    return {fn.api_name for fn in blocks.fns.values() if fn.api_visibility == "public"} if blocks else set()


def launch_options(shared: Shared) -> dict:
    """Safe defaults for `demo.launch` of the app whose state is `shared`: its deployment's host
    and port (local only unless it says otherwise), uploads capped (`deploy.max_upload`), source,
    model, key and data folders blocked, a login when there are accounts (`shared.accounts`)."""
    from starlette.middleware import Middleware

    deploy, accounts = shared.deploy, shared.accounts
    served, private = served_folders(deploy)
    private += [ROOT / "models", ROOT / "avatar", ROOT / ".venv", ROOT / "tests", ROOT / "app.py"]
    return {
        "server_name": deploy.host, "server_port": deploy.port, "share": False, "show_error": False,
        "max_file_size": deploy.max_upload, "enable_monitoring": False,
        # Gradio only serves files from the working directory, the temp dir and these: the rendered
        # answers and dialogue exports (names are unguessable hashes and random folders).
        "allowed_paths": [str(p) for p in served],
        "blocked_paths": [str(p) for p in private],
        "auth": accounts.login if accounts else None,
        "auth_message": LOGIN_MESSAGE if accounts else None,
        "app_kwargs": {"middleware": [Middleware(BadRequests), Middleware(PublicApiOnly),
                                      Middleware(Logins, accounts=accounts, guarded=[LIVE_PATH]),
                                      Middleware(Uploads, owners=shared.uploads),
                                      Middleware(LiveStreams, shared=shared)]},
        "css": static("page.css"),
    }


def queue(demo: gr.Blocks, deploy: Deployment) -> gr.Blocks:
    """Every handler goes through the queue (REST calls that would skip it are refused); at
    most 16 waiting; text replies and page updates in their own lanes. Renders run one at a
    time when this process renders them (answers already rendered are served meanwhile); with
    render workers (`deploy.broker`) a replica waits on up to `deploy.replica_renders` (default
    8) jobs at once and the workers set the pace."""
    # Up to 8 handlers at once either way: here the service itself renders one answer at a time
    # (its render lane), so an answer already rendered never waits behind others' renders.
    renders = deploy.replica_renders if deploy.broker else 8
    return demo.queue(api_open=False, max_size=16, default_concurrency_limit=renders)
