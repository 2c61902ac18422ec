"""Every folder under the cache root, and the one way to write a file or folder atomically.

The cache root is `$AVATAR_CACHE` if set, else `~/.cache/avatar`. Folder roles:
    answers/    rendered answers (served to browsers: names are unguessable hashes)
    exports/    dialogue exports (served; random folder names, deleted after an hour)
    recorded/   people's recorded driver answers, one folder per owner (private)
    adapt/      adaptation work: extracted faces and training runs (private)
    models/     adapted presenter models (private; offered by name only)
    c2pa/       the local certificate authority and signing key (private)
    chat/       the chat database (private)
    data/, runs/  recipe datasets and training runs (private)
    tensorrt/   onnxruntime's TensorRT engine and timing caches (private)
    library-work/  a presenter library's build in progress (normalised videos, tracked landmarks)
    tmp/        a request's temporary files (swept at start)
    accounts/   the app's login accounts (`avatar.accounts`; private)
    voices/     a team's own Piper voices (`avatar.speech.voices`; private)

Atomic writes (`atomic_path`, `atomic_write`, `atomic_folder`): the content is written under a
hidden temporary name beside the target, flushed to disk, then renamed over the target, so a
reader (or a crash) never sees half a file or folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from avatar.errors import UserError

SERVED = ("answers", "exports")
PRIVATE = ("recorded", "adapt", "models", "c2pa", "chat", "data", "runs", "tensorrt", "library-work", "tmp", "accounts",
           "voices")


_SCRATCH: dict[Path, tuple] = {}  # the cache's tmp/ -> (this process's scratch folder, its held lock file)


def cache_root() -> Path:
    """`$AVATAR_CACHE` if set, else `~/.cache/avatar`."""
    env = os.environ.get("AVATAR_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "avatar"


def cache_dir(name: str) -> Path:
    """One of the cache's folders (see the module docstring); not created here."""
    if name not in SERVED + PRIVATE:
        raise ValueError(f"unknown cache folder {name!r}")
    return cache_root() / name


def scratch_dir() -> Path:
    """This process's folder for a request's temporary files (speech, clips being made): under
    the cache's tmp/, never served, created on first use and held (a lock on its `.alive` file)
    while the process lives, so `sweep_scratch` knows at once when its owner was killed."""
    import fcntl
    import secrets

    root = writable_dir(cache_dir("tmp"), "cache folder")
    held = _SCRATCH.get(root)
    if held is not None and held[0].is_dir():
        return held[0]
    folder = root / f"run-{secrets.token_hex(6)}"
    folder.mkdir()
    alive = open(folder / ".alive", "w")  # noqa: SIM115 (held open for the process's life)
    fcntl.flock(alive, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _SCRATCH[root] = (folder, alive)
    return folder


def sweep_scratch(older_than_s: float = 3600) -> int:
    """Remove what processes killed mid-work left in the cache's tmp/: a process's scratch folder
    as soon as nobody holds its lock (its owner is gone, on this machine), anything else once
    untouched for `older_than_s` (a process on another machine sharing the cache may still use it).
    Returns the count."""
    import fcntl
    import shutil
    import time

    folder, removed = cache_dir("tmp"), 0
    ours = {held[0] for held in _SCRATCH.values()}
    for entry in folder.iterdir() if folder.is_dir() else []:
        try:
            if entry in ours:
                continue
            if entry.name.startswith("run-") and (entry / ".alive").is_file():
                with open(entry / ".alive") as alive:
                    fcntl.flock(alive, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while its owner lives
                shutil.rmtree(entry)
                removed += 1
            elif time.time() - entry.lstat().st_mtime > older_than_s:
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
                removed += 1
        except OSError:
            pass  # held by a live process, gone meanwhile, or not ours to remove
    return removed


def private_dirs() -> list[Path]:
    """Cache folders that must never be served over HTTP."""
    return [cache_dir(name) for name in PRIVATE]


def writable_dir(folder: Path, what: str) -> Path:
    """Create `folder` (and parents) or raise a UserError that says which folder and why."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserError(f"cannot use {folder} as the {what}: a file is in the way.") from None
    except PermissionError:
        raise UserError(f"cannot create the {what} {folder}: permission denied.") from None
    except OSError as error:
        raise UserError(f"cannot create the {what} {folder}: {error.strerror or error}.") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"cannot write into the {what} {folder}: permission denied.")
    return folder


def temp_beside(path: Path, kind: str) -> Path:
    """A hidden, unique name beside `path` for a file that becomes `path` (or is removed)."""
    # Hidden, unique, and ending in the target's own name so tools that read the format from
    # the extension (ffmpeg, cv2) still see it.
    return path.with_name(f".{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}-{path.name}")


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)  # makes the rename itself durable
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yields a temporary path beside `path` for any writer (ffmpeg, torch.save, onnx.save, a
    signer) to create; when the block ends without an error the file is flushed to disk and
    renamed over `path`; otherwise it is removed and `path` is untouched."""
    path = Path(path)
    tmp = temp_beside(path, "tmp")
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: Path, data: bytes | str, mode: int | None = None) -> Path:
    """Write `data` (str as UTF-8) to `path` atomically; `mode` sets permissions (e.g. 0o600 for
    keys), applied before any byte is written."""
    payload = data.encode() if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        # Created with `mode` (less the umask), so a key is never readable by others, even briefly.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
    return Path(path)


@contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """Yields an empty staging folder beside `path`; when the block ends without an error it
    replaces `path` (an older `path` is kept until the new one is complete), else it is removed."""
    path = Path(path)
    staging = temp_beside(path, "staging")
    staging.mkdir(parents=True)
    try:
        yield staging
        if path.exists():
            old = temp_beside(path, "old")
            os.replace(path, old)
            os.replace(staging, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
