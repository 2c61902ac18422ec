"""Media storage: answers and recordings as objects under keys like `answers/<hash>.mp4`.

`AVATAR_STORAGE` picks the backend:
    unset, or a folder   files under that folder (default: the cache root), the key as the path
    s3://bucket/prefix   S3-compatible object storage through boto3; an endpoint
                         (`AVATAR_S3_ENDPOINT`) for a server other than AWS (MinIO, Ceph, a test
                         server); credentials and region the usual AWS way (environment, ~/.aws)
Either way `local(key)` gives a path on this machine, because ffmpeg, onnxruntime and Gradio
read files: object storage keeps a mirror folder (the cache root) and fetches a missing object
into it on first use. Writes are atomic on both (a temp file renamed; S3 objects appear whole).
boto3 is imported only here.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from avatar.paths import atomic_path

_KEY = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


def check_key(key: str) -> str:
    """`key` if it is a relative slash-separated name without `..`; else ValueError."""
    if not _KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"bad storage key {key!r}")
    return key


class LocalStorage:
    """Objects as files under `root`."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def local(self, key: str) -> Path:
        """The object's file; FileNotFoundError when there is none."""
        path = self.root / check_key(key)
        if not path.is_file():
            raise FileNotFoundError(f"no stored object {key}")
        return path

    def put(self, key: str, source: Path) -> Path:
        """Move the file `source` into storage under `key`; returns its local path."""
        return _move_into(self.root / check_key(key), source)

    def delete(self, key: str) -> None:
        path = self.root / check_key(key)
        path.unlink(missing_ok=True)
        _remove_empty_parents(path.parent, self.root)


class S3Storage:
    """Objects in `bucket` under `prefix`, mirrored on demand into `mirror`."""

    def __init__(self, bucket: str, prefix: str, mirror: Path, endpoint: str | None = None):
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix, self.mirror = bucket, prefix.strip("/"), Path(mirror)
        self.client = boto3.client("s3", endpoint_url=endpoint,
                                   config=Config(retries={"max_attempts": 5, "mode": "standard"}))

    def __repr__(self) -> str:
        return f"S3Storage('s3://{self.bucket}/{self.prefix}')"

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{check_key(key)}" if self.prefix else check_key(key)

    def local(self, key: str) -> Path:
        path = self.mirror / check_key(key)
        if path.is_file():
            return path
        from botocore.exceptions import ClientError

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with atomic_path(path) as staging:
                self.client.download_file(self.bucket, self._name(key), str(staging))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(f"no stored object {key}") from None
            raise
        return path

    def put(self, key: str, source: Path) -> Path:
        self.client.upload_file(str(source), self.bucket, self._name(key))
        return _move_into(self.mirror / check_key(key), source)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        path = self.mirror / check_key(key)
        path.unlink(missing_ok=True)
        _remove_empty_parents(path.parent, self.mirror)


Storage = LocalStorage | S3Storage


def open_storage(url: str | None, mirror: Path, endpoint: str | None = None) -> Storage:
    """The backend `url` names (see the module docstring); `mirror` is the local folder (the
    storage itself when `url` is empty); `endpoint`: the S3 server's URL when it is not AWS."""
    if url and url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"AVATAR_STORAGE={url!r} names no bucket (expected s3://bucket/prefix)")
        return S3Storage(bucket, prefix, mirror, endpoint)
    if url and "://" in url:
        raise ValueError(f"AVATAR_STORAGE={url!r}: expected a folder or s3://bucket/prefix")
    return LocalStorage(Path(url).expanduser() if url else mirror)


def _move_into(path: Path, source: Path) -> Path:
    """Move the file `source` to `path` atomically (its folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as staging:
        shutil.move(source, staging)
    return path


def _remove_empty_parents(folder: Path, root: Path) -> None:
    """Remove `folder` and its parents up to (not including) `root` while they are empty."""
    folder, root = folder.resolve(), root.resolve()
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
