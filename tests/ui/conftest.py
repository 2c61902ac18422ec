"""A served app for the UI tests: the real app.py in its own process, on a free local port."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


MAX_UPLOAD = "5mb"


@pytest.fixture(scope="session")
def app_cache(tiny_model, tmp_path_factory) -> Path:
    """The served app's $AVATAR_CACHE; it holds a second presenter model (`tiny`), as an
    adaptation would, so the app offers a choice."""
    cache = tmp_path_factory.mktemp("app-cache")
    shutil.copytree(tiny_model, cache / "models" / "installed" / "tiny")
    return cache


@pytest.fixture(scope="session")
def server_tmp(tmp_path_factory) -> Path:
    """The served app's TMPDIR (Gradio keeps its copies of served files under it)."""
    return tmp_path_factory.mktemp("server-tmp")


@pytest.fixture(scope="session")
def server(app_cache, server_tmp):
    """The app with the shipped presenter first, uploads capped at MAX_UPLOAD."""
    yield from _serve(app_cache, server_tmp)


@pytest.fixture(scope="session")
def login_server(tmp_path_factory):
    """The app with two accounts: alice (operator, password alice-secret) and bob (visitor,
    bob-secret-1); its own cache. Yields (url, cache)."""
    from avatar.accounts import Users

    cache, tmp = tmp_path_factory.mktemp("login-cache"), tmp_path_factory.mktemp("login-tmp")
    users = Users(cache / "accounts" / "users")
    users.add("alice", "alice-secret", "operator")
    users.add("bob", "bob-secret-1", "visitor")
    for url in _serve(cache, tmp):
        yield url, cache


@pytest.fixture(scope="session")
def operator_server(tmp_path_factory):
    """The app with one operator account (alice, alice-secret), pre-rendering on, uploads up to
    50 MB; its own cache. Yields the URL."""
    from avatar.accounts import Users

    cache, tmp = tmp_path_factory.mktemp("operator-cache"), tmp_path_factory.mktemp("operator-tmp")
    Users(cache / "accounts" / "users").add("alice", "alice-secret", "operator")
    yield from _serve(cache, tmp, {"AVATAR_PRERENDER": "1", "AVATAR_MAX_UPLOAD": "50mb"})


def _serve(cache: Path, tmp: Path, env: dict | None = None):
    """Run app.py on a free port with `cache` as its $AVATAR_CACHE; yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Its own temp dir, so the cache is outside both the temp dir and the working directory, as
    # ~/.cache/avatar is for a real user (Gradio serves only files it is allowed to).
    env = {**os.environ, "AVATAR_PORT": str(port), "AVATAR_CACHE": str(cache), "AVATAR_MAX_UPLOAD": MAX_UPLOAD,
           "GRADIO_ANALYTICS_ENABLED": "False", "TMPDIR": str(tmp), "AVATAR_PRERENDER": "0", **(env or {})}
    for name in ("AVATAR_MODEL", "AVATAR_USERS", "AVATAR_AUTH"):
        env.pop(name, None)
    process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except urllib.error.HTTPError:  # answering (e.g. 401 before a login)
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"the app exited: {process.stdout.read()[-2000:]}")
            time.sleep(0.5)
    yield url
    process.terminate()
    process.wait(timeout=30)


