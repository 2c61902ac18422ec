"""The app's door, as ASGI middleware. `Logins`, for people with accounts: failed logins slow
down per account and per address (the accounts' `throttle`), a session ends as soon as its
account is removed or changed, and the paths Gradio does not guard itself (live answer streams)
need a session too. Gradio keeps the sessions (its `tokens`: cookie token -> login name).
`Uploads`: which client uploaded each file, so that a request takes only its own uploads.
`BadRequests`: what Gradio's API routes cannot serve ends in one line, not a 500 and a traceback."""

from __future__ import annotations

import collections
import json
import logging
import math
import re
import secrets
import threading
import urllib.parse
from typing import Iterable

log = logging.getLogger(__name__)
TOKEN_COOKIE = re.compile(rb"^access-token-(?:unsecure-)?[^=]+=([^;]+)", re.IGNORECASE)
CLIENT_COOKIE = "avatar-client"
_CLIENT_COOKIE = re.compile(rb"^avatar-client=([A-Za-z0-9_-]{16,64})$")


class Logins:
    """ASGI middleware over the Gradio app, given its `accounts` (`Users` or `SingleLogin`; None:
    no logins, and it lets everything through) and the `guarded` path patterns that need a session."""

    def __init__(self, app, accounts=None, guarded: Iterable[re.Pattern] = ()):
        self.app, self.accounts, self.guarded = app, accounts, list(guarded)
        self.sessions: dict[str, tuple] = {}  # cookie token -> (role, password hash) at login

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.accounts is None:
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if scope.get("method") == "POST" and path.rstrip("/").endswith("/login"):
            await self._login(scope, receive, send)
            return
        tokens = getattr(scope.get("app"), "tokens", {})
        token = next((t for t in _cookie_tokens(scope) if t in tokens), None)
        name = tokens.get(token) if token else None
        if name is not None and not self._unchanged(token, name):
            tokens.pop(token, None)
            self.sessions.pop(token, None)
            log.warning("ended a session of %r: the account was removed or changed", name)
            await _answer(send, 401, "Your account was removed or changed: log in again.")
            return
        if name is None and any(pattern.search(path) for pattern in self.guarded):
            await _answer(send, 401, "Log in first.")
            return
        await self.app(scope, receive, send)

    def _unchanged(self, token: str, name: str) -> bool:
        if self.accounts.problem():  # the users file cannot be read: nothing is known to have changed
            return True
        account = self.accounts.account(name)
        if account is None:
            return False
        state = self.sessions.setdefault(token, (account.role, account.password_hash))
        return state == (account.role, account.password_hash)

    async def _login(self, scope, receive, send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        form = urllib.parse.parse_qs(body.decode("utf-8", errors="replace"))
        name = (form.get("username") or [""])[0].strip()[:64]
        address = (scope.get("client") or ("unknown",))[0]
        problem = self.accounts.problem()
        if problem:
            log.error("login for %r refused: %s", name, problem)
            await _answer(send, 503, "Logins are closed until an operator repairs the users file.")
            return
        throttle = self.accounts.throttle
        wait = throttle.wait(name, address)
        if wait > 0:
            log.warning("login for %r from %s refused: %.0f s to wait after failed tries", name, address, wait)
            await _answer(send, 429, f"Too many failed logins: try again in {math.ceil(wait)} s.")
            return
        replayed, response = False, {}

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def watch(message):
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                response["tokens"] = [m.group(1).decode() for key, value in message.get("headers", [])
                                      if key.lower() == b"set-cookie" and (m := TOKEN_COOKIE.match(value))]
            await send(message)

        await self.app(scope, replay, watch)
        if response.get("status") == 200:
            throttle.succeeded(name, address)
            if len(self.sessions) > 10_000:  # forget sessions Gradio no longer knows (logged out)
                known = getattr(scope.get("app"), "tokens", {})
                self.sessions = {token: state for token, state in self.sessions.items() if token in known}
            account = self.accounts.account(name)
            for token in response.get("tokens", []):
                if account is not None:
                    self.sessions[token] = (account.role, account.password_hash)
        elif response.get("status") in (400, 401):
            failures = throttle.failed(name, address)
            log.warning("failed login for %r from %s (%d in a row)", name, address, failures)


# Gradio's routes that read a request body (calls, the queue, components, uploads) ...
_API_INPUT = re.compile(r"/gradio_api/(?:call/v2/[^/]+|call/[^/]+|run/[^/]+|api/[^/]+|queue/join|component_server"
                        r"|upload|cancel|stream/[^/]+(?:/close)?)/?$")
# ... and its event streams, which start answering before they look the event or session up.
_EVENT_STREAM = re.compile(r"/gradio_api/(?:call/[^/]+/[^/]+|queue/data)/?$")


class BadRequests:
    """ASGI middleware over the Gradio app, for requests its API routes cannot serve. One they
    cannot read (an unknown field, a function that does not exist, a broken form) raised in
    Gradio and was answered 500 with a traceback in the log: it is answered 400 with one
    sentence. An event stream asked for an event or session Gradio does not know (a page back
    after a restart) sent its error event, then was cut off with a traceback: it now ends there.
    Each is logged in one line; every other fault is left to the server."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        path, method = scope.get("path", ""), scope.get("method")
        reads = method == "POST" and _API_INPUT.search(path)
        streams = method == "GET" and _EVENT_STREAM.search(path)
        if scope["type"] != "http" or not (reads or streams):
            await self.app(scope, receive, send)
            return
        started = ended = False

        async def watch(message):
            nonlocal started, ended
            started = started or message["type"] == "http.response.start"
            ended = ended or (message["type"] == "http.response.body" and not message.get("more_body", False))
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as error:
            if not started and reads:
                log.warning("refused a request to %s that could not be read (%s)", path[:200], type(error).__name__)
                await _answer(send, 400, "This request could not be read: check its fields against the app's API "
                                         "page (the 'Use via API' link at the bottom of the page).")
            elif started and streams and not ended:  # Gradio sent its error event, then raised
                log.warning("ended a stream of %s: the event or session is not known here", path[:200])
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                raise


class UploadOwners:
    """Which client (its `avatar-client` cookie) uploaded each file Gradio holds, for the last
    `limit` uploads (older ones are taken or swept long before)."""

    def __init__(self, limit: int = 20_000):
        self.limit = limit
        self._owners: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._lock = threading.Lock()

    def add(self, path: str, client: str) -> None:
        with self._lock:
            self._owners[path] = client
            while len(self._owners) > self.limit:
                self._owners.popitem(last=False)

    def uploaded_by(self, path: str, client: str | None) -> bool:
        """Whether `client` uploaded `path` (never for no client)."""
        with self._lock:
            return client is not None and self._owners.get(path) == client


class Uploads:
    """ASGI middleware over the Gradio app: every browser or API client gets a random
    `avatar-client` cookie with its first answer (Gradio's own client keeps the cookies of its
    first request), and the files of each upload (Gradio's `POST .../upload` answers with their
    paths) are noted in `owners` under it. A path in Gradio's cache is no secret (it shows in the
    page, a shared link, a log), so a request may take only what its own client uploaded."""

    def __init__(self, app, owners: UploadOwners):
        self.app, self.owners = app, owners

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = client_cookie(scope.get("headers", []))
        new = client is None
        client = client or secrets.token_urlsafe(24)
        upload = scope.get("method") == "POST" and scope.get("path", "").rstrip("/").endswith("/upload")
        response, body = {}, []

        async def watch(message):
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                if new:
                    cookie = f"{CLIENT_COOKIE}={client}; Path=/; HttpOnly; SameSite=Lax".encode()
                    message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            elif message["type"] == "http.response.body" and upload and response.get("status") == 200:
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self._note(b"".join(body), client)
            await send(message)

        await self.app(scope, receive, watch)

    def _note(self, body: bytes, client: str) -> None:
        try:
            paths = json.loads(body)
        except ValueError:
            return
        for path in paths if isinstance(paths, list) else []:
            if isinstance(path, str):
                self.owners.add(path, client)


def client_cookie(headers) -> str | None:
    """The `avatar-client` cookie among a request's (name, value) header pairs, bytes or str."""
    for key, value in headers:
        key = key.encode("latin-1") if isinstance(key, str) else key
        value = value.encode("latin-1") if isinstance(value, str) else value
        if key.lower() == b"cookie":
            for part in value.split(b";"):
                if match := _CLIENT_COOKIE.match(part.strip()):
                    return match.group(1).decode()
    return None


def _cookie_tokens(scope) -> list[str]:
    """The session tokens in a request's cookies (Gradio's access-token cookies)."""
    found = []
    for key, value in scope.get("headers", []):
        if key.lower() == b"cookie":
            for part in value.split(b";"):
                match = TOKEN_COOKIE.match(part.strip())
                if match:
                    found.append(match.group(1).decode("latin-1"))
    return found


async def _answer(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
