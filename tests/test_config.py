"""The deployment: every environment variable the product reads is read in one place."""

from pathlib import Path

from avatar.config import Deployment

SETTINGS = {"AVATAR_CACHE": "/srv/cache", "AVATAR_DB": "postgresql+psycopg://db/avatar", "AVATAR_STORAGE": "s3://b/p",
            "AVATAR_BROKER": "redis://r:6379/0", "AVATAR_JOB_SECONDS": "90", "AVATAR_MAX_WAITING": "4",
            "AVATAR_CORPUS": "english", "AVATAR_PRERENDER": "0", "AVATAR_MODEL": "/srv/models/p",
            "AVATAR_AUTH": "op:secret", "AVATAR_USERS": "/srv/users", "AVATAR_MAX_UPLOAD": "50mb",
            "AVATAR_REPLICA_RENDERS": "3", "AVATAR_S3_ENDPOINT": "http://minio:9000", "AVATAR_MAX_RECORDING": "30",
            "AVATAR_ADAPT_STEPS": "5000", "AVATAR_HOST": "0.0.0.0", "AVATAR_PORT": "7861"}


def test_every_variable_is_read_and_unset_ones_are_the_defaults(monkeypatch):
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)
    assert Deployment.from_env() == Deployment(
        root=Path("/srv/cache"), db="postgresql+psycopg://db/avatar", storage="s3://b/p", broker="redis://r:6379/0",
        job_seconds=90, max_waiting=4, corpus="english", prerender=False, model=Path("/srv/models/p"),
        auth="op:secret", users=Path("/srv/users"), max_upload="50mb", replica_renders=3,
        s3_endpoint="http://minio:9000", max_recording=30.0, adapt_steps=5000, host="0.0.0.0", port=7861)
    for name in SETTINGS:
        monkeypatch.setenv(name, "")  # set but empty: as if unset
    monkeypatch.setenv("AVATAR_CACHE", "/srv/cache")
    assert Deployment.from_env() == Deployment(root=Path("/srv/cache"))
    assert Deployment.from_env().users_file == Path("/srv/cache/accounts/users")


def test_a_setting_that_is_not_a_number_is_one_clear_line(monkeypatch, tmp_path):
    import subprocess
    import sys

    import pytest

    from avatar.errors import UserError

    monkeypatch.setenv("AVATAR_PORT", "80a")
    with pytest.raises(UserError, match="AVATAR_PORT must be a whole number, not '80a'"):
        Deployment.from_env()
    app = Path(__file__).resolve().parents[1] / "app.py"
    result = subprocess.run([sys.executable, str(app)], capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, "AVATAR_CACHE": str(tmp_path)})
    assert result.returncode == 1 and result.stderr.strip() == "error: AVATAR_PORT must be a whole number, not '80a'."


def test_a_commands_options_override_the_environment_where_given(tmp_path):
    deploy = Deployment(root=tmp_path, db="sqlite:///x", max_upload="50mb")
    given = deploy.given(db=None, broker="redis://r/0", users=tmp_path / "users")
    assert given == Deployment(root=tmp_path, db="sqlite:///x", max_upload="50mb", broker="redis://r/0",
                               users=tmp_path / "users")
    assert given.users_file == tmp_path / "users"


def test_serve_passes_its_flags_as_the_deployment_it_serves_never_through_the_environment(monkeypatch, tmp_path):
    import os
    from types import SimpleNamespace

    from click.testing import CliRunner

    import avatar.ui.app
    from avatar.cli import main
    from avatar.ui.shared import Shared

    monkeypatch.setenv("AVATAR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AVATAR_MAX_UPLOAD", "70mb")
    monkeypatch.setenv("AVATAR_PORT", "7999")
    seen = {}

    class App(avatar.ui.app.PresenterApp):
        def __init__(self, deploy):  # no page is built: only what it would be launched with
            seen["built"] = deploy
            self.shared = Shared(deploy, service=object())
            self.demo = SimpleNamespace(launch=lambda **options: seen.setdefault("options", options))

    monkeypatch.setattr(avatar.ui.app, "PresenterApp", App)
    environment = dict(os.environ)
    result = CliRunner().invoke(main, ["serve", "--db", "sqlite:///x.sqlite3", "--model", str(tmp_path),
                                       "--auth", "op:pass-word", "--host", "0.0.0.0"])
    assert result.exit_code == 0, result.output
    deploy = seen["built"]
    assert deploy.db == "sqlite:///x.sqlite3" and deploy.model == tmp_path.resolve()
    assert seen["options"]["max_file_size"] == "70mb" and seen["options"]["auth"]("op", "pass-word")
    assert (seen["options"]["server_name"], seen["options"]["server_port"]) == ("0.0.0.0", 7999)
    assert dict(os.environ) == environment
