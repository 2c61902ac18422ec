"""The login door (`avatar.ui.gate.Logins`) over a stand-in for Gradio's own routes: failed logins
slow down per account and per address, a removed or changed account's session ends at its next
request, guarded paths need a session, and a damaged users file closes logins in one line."""

import asyncio
import re
import secrets
import urllib.parse

import pytest

from avatar.accounts import LoginThrottle, Users
from avatar.ui.gate import Logins


class Gradio:
    """What the door sees of Gradio: POST /login sets an access-token cookie on success (400
    otherwise), `tokens` maps tokens to names, every other path answers 200."""

    def __init__(self, accounts):
        self.accounts, self.tokens = accounts, {}

    async def __call__(self, scope, receive, send):
        if scope["path"] == "/login":
            form = urllib.parse.parse_qs((await receive())["body"].decode())
            name, password = form["username"][0], form["password"][0]
            if self.accounts.login(name, password):
                token = secrets.token_urlsafe(16)
                self.tokens[token] = name
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"set-cookie", f"access-token-abc={token}; HttpOnly".encode())]})
            else:
                await send({"type": "http.response.start", "status": 400, "headers": []})
        else:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def call(door, gradio, path, method="GET", body=b"", token=None, address="10.0.0.1"):
    """(status, body) of one request through the door."""
    headers = [(b"cookie", f"access-token-abc={token}".encode())] if token else []
    scope = {"type": "http", "method": method, "path": path, "headers": headers, "client": (address, 1234),
             "app": gradio}
    sent = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(door(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def login(door, gradio, name, password, address="10.0.0.1"):
    status, body = call(door, gradio, "/login", "POST",
                        urllib.parse.urlencode({"username": name, "password": password}).encode(), address=address)
    token = next((t for t, n in gradio.tokens.items() if n == name), None)
    return status, body, token


@pytest.fixture
def door(tmp_path):
    users = Users(tmp_path / "users")
    users.add("alice", "alice-secret", "operator")
    users.add("bob", "bob-secret-1", "visitor")
    users.throttle = LoginThrottle(free=3, first=60.0)  # long waits: a test never outlasts one
    gradio = Gradio(users)
    return Logins(gradio, accounts=users, guarded=[re.compile(r"/avatar-live/")]), gradio, users


def test_failed_logins_slow_down_per_account_and_per_address(door, caplog):
    door, gradio, users = door
    for _ in range(3):
        assert login(door, gradio, "alice", "wrong")[0] == 400
    status, body, _ = login(door, gradio, "alice", "alice-secret")  # right, but too soon
    assert status == 429 and b"Too many failed logins: try again in 60 s." in body
    assert "failed login for 'alice' from 10.0.0.1 (3 in a row)" in caplog.text
    # The same address trying other names is slowed too; alice from elsewhere is not yet free either.
    assert login(door, gradio, "bob", "bob-secret-1")[0] == 429
    assert login(door, gradio, "alice", "alice-secret", address="10.0.0.2")[0] == 429
    # Another person elsewhere logs in; a success clears that account's and address's count.
    status, _, token = login(door, gradio, "bob", "bob-secret-1", address="10.0.0.3")
    assert status == 200 and token


def test_the_throttle_waits_double_each_time_and_forgets_on_success():
    now = [0.0]
    throttle = LoginThrottle(free=2, first=1.0, most=8.0, clock=lambda: now[0])
    waits = []
    for _ in range(7):
        throttle.failed("carol", "10.0.0.9")
        waits.append(throttle.wait("carol", "10.0.0.9"))
    assert waits == [0.0, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    now[0] += 8.0
    assert throttle.wait("carol", "10.0.0.9") == 0.0
    throttle.succeeded("carol", "10.0.0.9")
    throttle.failed("carol", "10.0.0.9")
    assert throttle.wait("carol", "10.0.0.9") == 0.0


def test_a_removed_or_changed_account_loses_its_session_at_its_next_request(door):
    door, gradio, users = door
    _, _, alice = login(door, gradio, "alice", "alice-secret")
    _, _, bob = login(door, gradio, "bob", "bob-secret-1")
    assert call(door, gradio, "/gradio_api/queue/join", token=alice)[0] == 200
    users.remove("alice")  # `avatar users remove alice`, while she is logged in
    status, body = call(door, gradio, "/gradio_api/queue/join", token=alice)
    assert status == 401 and b"removed or changed" in body and alice not in gradio.tokens
    users.add("bob", "a-new-password", "visitor")  # bob's password changed
    assert call(door, gradio, "/", token=bob)[0] == 401 and bob not in gradio.tokens
    # Re-added under the same name, the old session does not come back (Gradio asks for a login again).
    users.add("alice", "alice-secret", "operator")
    call(door, gradio, "/", token=alice)
    assert alice not in gradio.tokens and call(door, gradio, "/avatar-live/abc.mp4", token=alice)[0] == 401


def test_guarded_paths_need_a_session_and_a_damaged_users_file_closes_logins_in_one_line(door, caplog):
    door, gradio, users = door
    assert call(door, gradio, "/avatar-live/abc.mp4")[0] == 401
    _, _, bob = login(door, gradio, "bob", "bob-secret-1")
    assert call(door, gradio, "/avatar-live/abc.mp4", token=bob)[0] == 200
    users.path.write_text(users.path.read_text() + "garbage line\n")  # damaged while serving
    status, body, _ = login(door, gradio, "alice", "alice-secret")
    assert status == 503 and body == b'{"detail": "Logins are closed until an operator repairs the users file."}'
    assert "line 4 is not" in caplog.text
    assert call(door, gradio, "/", token=bob)[0] == 200  # nothing is known to have changed: bob goes on
    assert users.role("bob") is None and not users.is_operator("alice")  # no role until it is fixed, no traceback


def test_without_accounts_the_door_lets_everything_through():
    gradio = Gradio(None)
    open_door = Logins(gradio, accounts=None, guarded=[re.compile(r"/avatar-live/")])
    assert call(open_door, gradio, "/avatar-live/abc.mp4")[0] == 200
