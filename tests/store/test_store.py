"""The shared state on SQLite and on a real PostgreSQL server: same code, same behaviour."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from avatar.store import MIGRATIONS, Store, metadata

NEWEST = max(p.name.split("_")[0] for p in (MIGRATIONS / "versions").glob("0*.py"))


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return Store(f"sqlite:///{tmp_path / 'state.sqlite3'}").prepare()
    server = request.getfixturevalue("postgres_server")
    store = Store(server.url).prepare()
    with store.engine.begin() as c:  # each test starts empty
        for table in reversed(metadata.sorted_tables):
            c.execute(table.delete())
    return store


def recording(owner="o1", clip="c1", **extra):
    return {"owner": owner, "clip": clip, "text": "Hi", "video": f"recorded/{owner}/{clip}/v1/clip.mp4",
            "audio": None, "duration": 2.0, "frames": 48, "fps": 24.0, "face_share": 1.0, "sha256": "ab" * 32,
            "source": "test", "created": "2026-12-03T10:00:00+00:00", **extra}


def answer(key, rec=None, size=100):
    return {"key": key, "text": "Hi", "video": f"answers/{key}.mp4", "duration": 2.0,
            "driver": "recorded" if rec else "synthesised", "rec_owner": rec[0] if rec else None,
            "rec_clip": rec[1] if rec else None, "bytes": size}


def test_the_migrations_make_exactly_the_declared_schema(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    ours = {"include_name": lambda name, kind, parent: kind != "table" or name in metadata.tables}
    with store.engine.connect() as c:  # (the shared database also holds ChatterBot's tables)
        assert compare_metadata(MigrationContext.configure(c, opts=ours), metadata) == []
    store.prepare()  # a second run changes nothing


def test_replacing_or_deleting_a_recording_drops_its_answers(store):
    assert store.put_recording(recording()) == (None, [])
    assert store.add_answer(answer("a1", ("o1", "c1"))) and store.add_answer(answer("s1"))
    assert store.add_answer(answer("a1", ("o1", "c1")))  # rendered twice: indexed once, still indexed
    old, stale = store.put_recording(recording(video="recorded/o1/c1/v2/clip.mp4"))
    assert old["video"].endswith("v1/clip.mp4") and [a["key"] for a in stale] == ["a1"]
    assert store.answer("a1") is None and store.answer("s1") is not None
    assert store.recording("o1", "c1")["video"].endswith("v2/clip.mp4")
    store.add_answer(answer("a2", ("o1", "c1")))
    old, stale = store.delete_recording("o1", "c1")
    assert old is not None and [a["key"] for a in stale] == ["a2"] and store.recording("o1", "c1") is None
    assert store.delete_recording("o1", "c1") == (None, [])
    assert not store.add_answer(answer("a3", ("o1", "c1")))  # rendered from a recording deleted meanwhile


def test_the_same_answer_indexed_by_two_workers_at_once_is_indexed_once(store):
    other = Store(store.url)
    with ThreadPoolExecutor(max_workers=8) as pool:
        done = list(pool.map(lambda i: (store, other)[i % 2].add_answer(answer("same")), range(16)))
    assert all(done) and store.answer("same") is not None and store.answers_over(0) != []


def test_the_least_recently_used_answers_are_pruned_first(store):
    for key in ("old", "mid", "new"):
        store.add_answer(answer(key, size=100))
    store.answer("old")  # used again: now the most recent
    assert [a["key"] for a in store.answers_over(150)] == ["mid", "new"]
    assert store.answer("old") is not None and store.answers_over(150) == []


def test_history_is_bounded_per_session_and_in_sessions(store):
    for i in range(5):
        store.add_exchange("a", f"q{i}", "r", keep=3, sessions=2)
    assert [q for q, _ in store.history("a")] == ["q2", "q3", "q4"]
    store.add_exchange("b", "x", "y", keep=3, sessions=2)
    store.add_exchange("c", "x", "y", keep=3, sessions=2)
    assert store.history("a") == [] and store.session_count() == 2
    store.forget("b")
    assert store.history("b") == [] and store.session_count() == 1


def test_two_stores_on_one_database_see_each_others_rows_under_concurrent_writes(store):
    other = Store(store.url)
    errors = []

    def write(s, owner):
        try:
            for i in range(20):
                s.put_recording(recording(owner=owner, clip=f"c{i}"))
                s.add_exchange(owner, f"q{i}", "r", keep=50, sessions=100)
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(s, o)) for s, o in ((store, "o1"), (other, "o2"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(other.recordings_of("o1")) == 20 and len(store.recordings_of("o2")) == 20
    assert len(store.history("o2")) == 20


def test_postgres_replicas_starting_together_migrate_once(postgres_server):
    with sa.create_engine(postgres_server.url).begin() as c:
        c.execute(sa.text(f"DROP TABLE IF EXISTS {', '.join(metadata.tables)}, alembic_version"))
    errors = []

    def start():
        try:
            Store(postgres_server.url).prepare()
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sa.create_engine(postgres_server.url).connect() as c:
        assert c.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == [NEWEST]
