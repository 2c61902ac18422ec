"""Media storage: a local folder and S3-compatible object storage (moto's server) behave alike."""

import pytest

from avatar.storage import LocalStorage, check_key, open_storage


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path, monkeypatch):
    if request.param == "local":
        return open_storage(None, tmp_path / "root")
    from tests import servers

    server = request.getfixturevalue("s3_server")
    bucket = f"media-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    servers.make_bucket(server, bucket)
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    return open_storage(f"s3://{bucket}/prefix", tmp_path / "mirror", server.endpoint)


def test_put_local_delete(storage, tmp_path):
    source = tmp_path / "upload.mp4"
    source.write_bytes(b"video bytes")
    path = storage.put("answers/abc.mp4", source)
    assert path.read_bytes() == b"video bytes" and not source.exists()
    assert storage.local("answers/abc.mp4") == path
    storage.delete("answers/abc.mp4")
    assert not path.exists()
    with pytest.raises(FileNotFoundError):  # gone from the storage too, not only from this machine
        storage.local("answers/abc.mp4")
    storage.delete("answers/abc.mp4")  # deleting twice is fine


def test_another_replica_reads_what_one_stored(storage, tmp_path):
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"x" * 100_000)
    storage.put("recorded/o/c/v/clip.mp4", source)
    if isinstance(storage, LocalStorage):  # a shared folder (e.g. NFS) seen by a second process
        elsewhere = open_storage(str(storage.root), tmp_path / "unused")
        assert elsewhere.local("recorded/o/c/v/clip.mp4").read_bytes() == b"x" * 100_000
        return
    elsewhere = open_storage(f"s3://{storage.bucket}/prefix", tmp_path / "other-mirror",
                             storage.client.meta.endpoint_url)
    assert not elsewhere.mirror.exists()
    fetched = elsewhere.local("recorded/o/c/v/clip.mp4")  # fetched into its own mirror on first use
    assert fetched == tmp_path / "other-mirror" / "recorded/o/c/v/clip.mp4"
    assert fetched.read_bytes() == b"x" * 100_000


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a//b", "a/../b", "", "a b", "answers/."])
def test_keys_cannot_leave_the_storage(key):
    with pytest.raises(ValueError):
        check_key(key)


def test_unknown_storage_urls_are_refused(tmp_path):
    with pytest.raises(ValueError, match="expected a folder or s3"):
        open_storage("ftp://host/x", tmp_path)
