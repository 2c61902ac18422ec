"""Two app replicas and two render workers on this machine, sharing a real PostgreSQL, Redis and
S3-compatible storage (tests/servers.py), as README "Deploy" sets them up."""

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests import servers
from avatar.presenter import write_record

ROOT = Path(__file__).resolve().parents[2]
LOGIN = ("alice", "wonderland")
JOB_SECONDS = 40  # a job whose worker vanished is handed out again after this + 30 s


class Process:
    """An app replica or a worker: started again on the same settings after a kill."""

    def __init__(self, name: str, command: list[str], env: dict, port: int | None, log: Path):
        self.name, self.command, self.env, self.port, self.log = name, command, env, port, log
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        if self.port is not None:
            self._wait_for_http()

    def _wait_for_http(self) -> None:
        for _ in range(480):
            try:
                urllib.request.urlopen(self.url, timeout=2)
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-3000:]}")
                time.sleep(0.25)
        raise RuntimeError(f"{self.name} did not answer HTTP")

    def wait_until_logged(self, text: str, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while text not in self.log.read_text(errors="replace"):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"{self.name} never logged {text!r}: {self.log.read_text()[-3000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the whole process group: no clean shutdown, no acknowledgement."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="session")
def cluster_model(tiny_model, consent_file, tmp_path_factory) -> Path:
    """The tiny presenter (fast to render), as every replica and worker gets it."""
    model = tmp_path_factory.mktemp("cluster-models") / "tiny"
    shutil.copytree(tiny_model, model)
    shutil.copy(consent_file, model / "consent.json")
    write_record(model)  # the consent is believed only when sealed
    return model


@pytest.fixture(scope="module")  # stopped once its tests are done: the rest of the suite runs without it
def cluster(cluster_model, postgres_server, redis_server, s3_server, tmp_path_factory):
    """dict with `replicas` (two Process with .url), `workers` (two Process), `redis`, `logs`, `db`
    and `env` (the settings every replica and worker shares)."""
    servers.make_bucket(s3_server, "avatar-cluster")
    logs = tmp_path_factory.mktemp("cluster-logs")
    shared = {**os.environ, **s3_server.env, "AVATAR_DB": postgres_server.url, "AVATAR_BROKER": redis_server.url,
              "AVATAR_STORAGE": "s3://avatar-cluster/media", "AVATAR_MODEL": str(cluster_model),
              "AVATAR_JOB_SECONDS": str(JOB_SECONDS), "AVATAR_AUTH": ":".join(LOGIN), "AVATAR_ADAPT_STEPS": "4",
              "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1", "AVATAR_PRERENDER": "0"}
    workers = [Process(f"worker-{i}", [sys.executable, "-m", "avatar", "worker"],
                       {**shared, "AVATAR_CACHE": str(tmp_path_factory.mktemp(f"worker-{i}-cache"))}, None,
                       logs / f"worker-{i}.log") for i in range(2)]
    replicas = []
    for i in range(2):
        port = servers.free_port()
        replicas.append(Process(f"replica-{i}", [sys.executable, "app.py"],
                                {**shared, "AVATAR_PORT": str(port),
                                 "AVATAR_CACHE": str(tmp_path_factory.mktemp(f"replica-{i}-cache")),
                                 "TMPDIR": str(tmp_path_factory.mktemp(f"replica-{i}-tmp"))}, port,
                                logs / f"replica-{i}.log"))
    try:
        subprocess.run([sys.executable, "-m", "avatar", "db", "upgrade"], env=shared, check=True, cwd=ROOT,
                       capture_output=True)  # schema and chat corpus once, before anyone serves
        for worker in workers:
            worker.start()
        for replica in replicas:
            replica.start()
        for worker in workers:
            worker.wait_until_logged("ready.")
        yield {"replicas": replicas, "workers": workers, "redis": redis_server, "logs": logs, "db": postgres_server.url,
               "env": shared}
    finally:
        for process in replicas + workers:
            process.stop()

