"""Real servers for tests, each on a free loopback port with its data in a temporary folder:
Debian's PostgreSQL and Redis (installed by `make setup` as root) and moto's S3-compatible
server (a pip package). Each is a context manager yielding a handle that can stop and start
its server again on the same port and data (a restart)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {seconds:.0f} s")


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `make setup` as root (apt-get install postgresql)")
    return Path(found[-1]).parent


class Server:
    """A server process started by `command` (a list) and restartable; the helpers below add
    `url` (or `endpoint` and `env`) and `cleanup()`."""

    def __init__(self, what: str, port: int, command: list[str], user: str | None = None):
        self.what, self.port, self.command, self.user = what, port, command, user
        self.process: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix=f"{what}-", suffix=".log", delete=False)

    def start(self) -> None:
        command = (["runuser", "-u", self.user, "--"] if self.user else []) + self.command
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(self.port, self.process, self.what)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")


def postgres():
    """A fresh PostgreSQL cluster with database `avatar` owned by user `avatar` (trust auth on
    loopback); `.url` is its SQLAlchemy URL."""
    bindir = _postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="avatar-pg-"))
    user = "postgres" if os.geteuid() == 0 else None  # PostgreSQL refuses to run as root
    if user:
        shutil.chown(root, user)
    run_as = ["runuser", "-u", user, "--"] if user else []
    subprocess.run([*run_as, bindir / "initdb", "-D", root / "data", "-U", "avatar", "--auth=trust", "-E", "UTF8",
                    "--no-sync"], check=True, capture_output=True)
    port = free_port()
    server = Server("postgres", port, [str(bindir / "postgres"), "-D", str(root / "data"), "-p", str(port),
                                       "-k", str(root), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                                       "-c", "max_connections=200"], user)
    server.start()
    for _ in range(100):  # listening is not yet accepting connections
        done = subprocess.run([bindir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "avatar", "avatar"],
                              capture_output=True, text=True)
        if done.returncode == 0:
            break
        time.sleep(0.1)
    else:
        raise RuntimeError(f"createdb failed: {done.stderr}")
    server.url = f"postgresql+psycopg://avatar@127.0.0.1:{port}/avatar"
    server.cleanup = lambda: shutil.rmtree(root, ignore_errors=True)
    return server


def redis():
    """A Redis server without persistence; `.url` is its URL (database 0)."""
    if not shutil.which("redis-server"):
        raise RuntimeError("redis-server is not installed: run `make setup` as root (apt-get install redis-server)")
    root = Path(tempfile.mkdtemp(prefix="avatar-redis-"))
    port = free_port()
    server = Server("redis", port, ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(root),
                                    "--save", "", "--appendonly", "no"])
    server.start()
    server.url = f"redis://127.0.0.1:{port}/0"
    server.cleanup = lambda: shutil.rmtree(root, ignore_errors=True)
    return server


def s3():
    """moto's S3-compatible server (in memory); `.endpoint` is its URL and `.env` the
    environment a client needs (test credentials, region, AVATAR_S3_ENDPOINT)."""
    port = free_port()
    server = Server("moto", port, [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p",
                                   str(port)])
    server.start()
    server.endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(server.endpoint, timeout=2)
            break
        except OSError:
            time.sleep(0.1)
    server.env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                  "AVATAR_S3_ENDPOINT": server.endpoint}
    server.cleanup = lambda: None
    return server


def make_bucket(server, name: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                 region_name="us-east-1").create_bucket(Bucket=name)
