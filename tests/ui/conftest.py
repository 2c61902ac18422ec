"""A served app for the UI tests: the real app.py in its own process, on a free local port."""

import os
import shutil
import socket
import subprocess
import sys
import time
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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Its own temp dir, so the cache is outside both the temp dir and the working directory, as
    # ~/.cache/avatar is for a real user (Gradio serves only files it is allowed to).
    env = {**os.environ, "AVATAR_PORT": str(port), "AVATAR_CACHE": str(app_cache), "AVATAR_MAX_UPLOAD": MAX_UPLOAD,
           "GRADIO_ANALYTICS_ENABLED": "False", "TMPDIR": str(server_tmp)}
    env.pop("AVATAR_MODEL", None)
    process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"the app exited: {process.stdout.read()[-2000:]}")
            time.sleep(0.5)
    yield url
    process.terminate()
    process.wait(timeout=30)


