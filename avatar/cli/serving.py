"""Running the app and its workers: `avatar serve`, `avatar worker`, `avatar users
add|remove|list`, `avatar db upgrade`, `avatar verify`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from avatar.cli.base import main
from avatar.errors import UserError


@main.command()
@click.option("--host", help="Address to listen on, 0.0.0.0 for every network (or $AVATAR_HOST) [default: 127.0.0.1].")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (or $AVATAR_PORT) [default: 7860].")
@click.option("--model", "model_path", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Presenter model folder shown first [default: models/presenter-default].")
@click.option("--auth", help="USER:PASSWORD: one operator login (or $AVATAR_AUTH) "
              "[default: the accounts of `avatar users`, if any].")
@click.option("--users", "users_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Users file (or $AVATAR_USERS) [default: <cache>/accounts/users].")
@click.option("--max-upload", help="Largest upload accepted (or $AVATAR_MAX_UPLOAD) [default: 200mb].")
@click.option("--db", help="Shared database URL (or $AVATAR_DB) [default: SQLite in the cache].")
@click.option("--broker", help="Redis URL for render workers (or $AVATAR_BROKER) [default: render in this process].")
@click.option("--storage", help="Media folder or s3://bucket/prefix (or $AVATAR_STORAGE) [default: the cache].")
def serve(host, port, model_path, auth, users_path, max_upload, db, broker, storage) -> None:
    """Serve the presenter app in the browser (what `make run` and `python app.py` do); README
    "Deploy" runs several of these behind a proxy with render workers."""
    from avatar.config import Deployment
    from avatar.ui import serve as serve_app

    deploy = Deployment.from_env().given(auth=auth, users=users_path, max_upload=max_upload, db=db, broker=broker,
                                         storage=storage, model=model_path.resolve() if model_path else None,
                                         host=host, port=port)
    serve_app(deploy, note=lambda line: click.echo(line, err=True))


@main.command()
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def verify(video) -> None:
    """Print VIDEO's content credentials (C2PA manifest) as JSON; exit 1 if they are invalid."""
    from dataclasses import asdict

    from avatar.provenance.credentials import read_credentials

    found = read_credentials(video)
    if found is None:
        raise UserError(f"{video} has no content credentials (no C2PA manifest)")
    click.echo(json.dumps(asdict(found), indent=1))
    if found.state == "Invalid":
        sys.exit(1)


@main.command()
@click.option("--gpu", type=click.IntRange(min=0), help="Render on this GPU (its index); default: the CPU.")
@click.option("--loglevel", default="INFO", show_default=True, type=click.Choice(["DEBUG", "INFO", "WARNING"]))
@click.option("--queues", default="render,adapt", show_default=True,
              help="Job queues to take from: render (answers, exports), adapt (training for many minutes).")
def worker(gpu, loglevel, queues) -> None:
    """Render answers queued by the app's replicas (AVATAR_BROKER, AVATAR_DB and AVATAR_STORAGE as
    theirs); one job at a time. Run one per GPU, or one per CPU machine (README "Deploy")."""
    from avatar.config import Deployment
    from avatar.worker import run_worker

    run_worker(Deployment.from_env(), gpu, loglevel, queues)


@main.group()
def users() -> None:
    """The app's login accounts ($AVATAR_USERS, else <cache>/accounts/users): once there is one,
    `avatar serve` asks everyone to log in. Operators may publish and withdraw recordings for every
    visitor; visitors' recordings are their own."""


_USERS_FILE = click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path),
                           help="Users file [default: $AVATAR_USERS, else <cache>/accounts/users].")


@users.command("add")
@click.argument("name")
@click.option("--operator", is_flag=True, help="May publish and withdraw recordings for every visitor.")
@_USERS_FILE
@click.password_option(help="The password (asked twice when not given; at least 8 characters).")
def users_add(name, operator, path, password) -> None:
    """Add account NAME, or set its password and role."""
    from avatar.accounts import Users

    accounts = Users(path)
    role = "operator" if operator else "visitor"
    new = accounts.add(name, password, role)
    click.echo(f"{'added' if new else 'updated'} {name} ({role}) in {accounts.path}")


@users.command("remove")
@click.argument("name")
@_USERS_FILE
def users_remove(name, path) -> None:
    """Remove account NAME (its next request is a visitor's without rights; its login ends)."""
    from avatar.accounts import Users

    accounts = Users(path)
    if not accounts.remove(name):
        raise UserError(f"there is no account {name!r} in {accounts.path}.")
    click.echo(f"removed {name} from {accounts.path}")


@users.command("list")
@_USERS_FILE
def users_list(path) -> None:
    """List the accounts and their roles."""
    from avatar.accounts import Users

    accounts = Users(path)
    found = accounts.accounts()
    if not found:
        click.echo(f"no accounts in {accounts.path}: the app needs no login")
    for account in found.values():
        click.echo(f"{account.name}\t{account.role}")


@main.group()
def db() -> None:
    """The shared database (AVATAR_DB; default SQLite under the cache)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the shared tables; with AVATAR_DB set, also train the chat corpus into it
    (done once, whichever replica or command comes first)."""
    from avatar.service import upgrade_database

    click.echo(upgrade_database())
