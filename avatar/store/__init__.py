"""The shared state of every app replica and render worker, in one SQL database.

SQLite under the cache by default (one machine, nothing to run), PostgreSQL (psycopg 3) when
`AVATAR_DB` names one: the same tables and the same code. The schema is made and changed only by
the Alembic migrations in `avatar/store/migrations/` (`Store.prepare()`, run by the app, the
worker and `avatar db upgrade`; on PostgreSQL under an advisory lock, so replicas starting
together migrate once).

Tables (people are stored by `owner_key`, a hash of their login or session, never by name):
    recordings   a person's recorded driver answer: text, the media keys of its video and sound,
                 its checks (duration, frames, fps, face share, SHA-256), source and time
    answers      the rendered-answer index: key (hash of text, model, voice, settings,
                 recording) -> media key of the video, duration, driver, the recording it came
                 from, size and last use (least recently used answers are pruned first)
    exchanges    chat history: (session, message, reply), bounded per session and in sessions
    adaptations  a person's adaptation job per base presenter (trained by the app or a worker):
                 state, message, progress share, the adapted model's name, last update
    presenters   the one list of adapted presenter models, kept in media storage under
                 `avatar.serving.adapted.adapted_key` (models/<owner>/<name>/<file>): owner, name, their
                 files (JSON list)
    corpora      a team's loaded question-and-answer corpora (`avatar.chat.corpus`): version,
                 name, files, SHA-256, sizes, fallback line, who loaded it and when (the
                 statements themselves are ChatterBot's, in its `statement` table)
    settings     named values shared by every replica (the active corpus)
    misses       what the operator should see, per corpus: questions given the fallback
                 ("unanswered"), questions the presenter asked back about ("unsure"), answers a
                 visitor marked as not helpful ("unhelpful"); as first typed, what was said,
                 how often, first and last time

Rows are plain dicts. SQLAlchemy is imported only here (and by `avatar.chat` to read the
ChatterBot tables).
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from avatar.errors import UserError
from avatar.paths import writable_dir

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_ID = 0x61766174  # PostgreSQL advisory lock held while migrating ("avat")

metadata = sa.MetaData()

recordings = sa.Table(
    "recordings", metadata,
    sa.Column("owner", sa.String(32), primary_key=True),  # owner_key, or "published"
    sa.Column("clip", sa.String(32), primary_key=True),  # clip_key of the text
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("video", sa.String(255), nullable=False),  # media key
    sa.Column("audio", sa.String(255)),  # media key, None without sound
    sa.Column("duration", sa.Float, nullable=False),
    sa.Column("frames", sa.Integer, nullable=False),
    sa.Column("fps", sa.Float, nullable=False),
    sa.Column("face_share", sa.Float, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("created", sa.String(32), nullable=False),  # ISO 8601, UTC
)

answers = sa.Table(
    "answers", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("video", sa.String(255), nullable=False),  # media key
    sa.Column("duration", sa.Float, nullable=False),
    sa.Column("driver", sa.String(16), nullable=False),  # "recorded" or "synthesised"
    sa.Column("rec_owner", sa.String(32)),  # the recording it was rendered from, if any
    sa.Column("rec_clip", sa.String(32)),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("used", sa.Float, nullable=False),  # Unix time of the last use
    sa.Index("answers_by_recording", "rec_owner", "rec_clip"),
    sa.Index("answers_by_use", "used"),
)

exchanges = sa.Table(
    "exchanges", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session", sa.String(128), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("reply", sa.Text, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("exchanges_by_session", "session", "id"),
    sa.Index("exchanges_by_time", "at"),
)


adaptations = sa.Table(
    "adaptations", metadata,
    sa.Column("owner", sa.String(32), primary_key=True),
    sa.Column("base", sa.String(128), primary_key=True),  # base presenter's name
    sa.Column("state", sa.String(16), nullable=False),  # avatar.adaptation.STATES
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("share", sa.Float, nullable=False),
    sa.Column("model", sa.String(128)),  # the adapted presenter's name once done
    sa.Column("updated", sa.Float, nullable=False),  # Unix time
)

presenters = sa.Table(
    "presenters", metadata,
    sa.Column("owner", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("files", sa.Text, nullable=False),  # JSON list of file names in the model folder
    sa.Column("created", sa.Float, nullable=False),
)

corpora = sa.Table(
    "corpora", metadata,
    sa.Column("version", sa.String(32), primary_key=True),  # its statements' ChatterBot conversation: corpus:<version>
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("files", sa.Text, nullable=False),  # JSON list of the loaded files' names
    sa.Column("sha256", sa.String(64), nullable=False),  # of the files' bytes
    sa.Column("pairs", sa.Integer, nullable=False),
    sa.Column("phrasings", sa.Integer, nullable=False),
    sa.Column("fallback", sa.Text),  # what the presenter says when unsure (None: the default)
    sa.Column("greeting", sa.Text),  # the chat's first line after the AI disclosure (None: the default)
    sa.Column("loaded_by", sa.String(32)),  # owner_key of the operator, None from the command line
    sa.Column("created", sa.Float, nullable=False),
)

settings = sa.Table(
    "settings", metadata,
    sa.Column("name", sa.String(64), primary_key=True),  # e.g. "active_corpus"
    sa.Column("value", sa.Text, nullable=False),
)

MISS_KINDS = ("unanswered", "unsure", "unhelpful")
misses = sa.Table(
    "misses", metadata,
    sa.Column("corpus", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # one of MISS_KINDS
    sa.Column("key", sa.String(32), primary_key=True),  # hash of the normalised question
    sa.Column("question", sa.Text, nullable=False),  # as first typed
    sa.Column("answer", sa.Text),  # what the presenter said (unhelpful), the suggestions (unsure)
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("first_asked", sa.Float, nullable=False),
    sa.Column("last_asked", sa.Float, nullable=False),
)

visitors = sa.Table(
    "visitors", metadata,
    sa.Column("owner", sa.String(32), primary_key=True),  # owner_key of a browser's visitor token
    sa.Column("last_seen", sa.Float, nullable=False),  # Unix time
)


def make_engine(url: str) -> sa.Engine:
    """An engine for `url`; SQLite waits for a writer instead of failing ("database is locked")."""
    if url.startswith("sqlite"):
        return sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest migration (idempotent; concurrent callers on PostgreSQL
    wait for the first)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Store:
    """Rows of the shared state (see the module docstring); safe to share between threads."""

    def __init__(self, url: str):
        self.url = url
        self.file = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
        if self.file is not None:
            writable_dir(self.file.parent, "cache folder")
        self.engine = make_engine(url)
        self._trim_lock = threading.Lock()
        self._since_trim = 0

    @property
    def shown_url(self) -> str:
        """The database's URL without its password: what messages and logs may show."""
        return make_url(self.url).render_as_string(hide_password=True)

    def prepare(self) -> Store:
        """Create or migrate the tables; a SQLite file is checked whole first. UserError, in one
        line, when the database cannot be used (damaged, not a database, unwritable, full)."""
        if self.file is not None and self.file.exists() and not self.file.is_file():
            raise UserError(f"the database {self.file} is not a file; move it aside (a new, empty one is made).")
        try:
            if self.file is not None and self.file.is_file():
                with self.engine.connect() as connection:
                    problems = connection.exec_driver_sql("PRAGMA quick_check").scalars().all()
                if problems != ["ok"]:
                    raise UserError(f"the database {self.file} is damaged ({problems[0]}); move it aside (a new, "
                                    "empty one is made) or restore it from a backup.")
            migrate(self.engine)
        except sa.exc.DBAPIError as error:
            where = self.file or self.shown_url
            reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
            raise UserError(f"the database {where} cannot be used ({reason}); move a damaged file aside or fix "
                            "the database server.") from None
        return self

    @contextmanager
    def _tx(self):
        with self.engine.begin() as connection:
            yield connection

    # -- recordings -------------------------------------------------------------------------

    def recording(self, owner: str, clip: str) -> dict | None:
        with self._tx() as c:
            row = c.execute(sa.select(recordings).where(recordings.c.owner == owner, recordings.c.clip == clip)).first()
        return dict(row._mapping) if row else None

    def recordings_of(self, owner: str) -> list[dict]:
        """`owner`'s recordings, oldest first."""
        with self._tx() as c:
            rows = c.execute(sa.select(recordings).where(recordings.c.owner == owner).order_by(recordings.c.created))
            return [dict(r._mapping) for r in rows]

    def put_recording(self, row: dict) -> tuple[dict | None, list[dict]]:
        """Store `row` (replacing the same owner's recording of the same text) in one transaction;
        returns the replaced row (None if new) and the answers rendered from it, whose rows are
        deleted here (their media is the caller's to delete)."""
        with self._tx() as c:
            where = (recordings.c.owner == row["owner"], recordings.c.clip == row["clip"])
            old = c.execute(sa.select(recordings).where(*where).with_for_update()).first()
            stale = self._drop_answers_of(c, row["owner"], row["clip"]) if old else []
            if old:
                c.execute(recordings.update().where(*where).values(**row))
            else:
                c.execute(recordings.insert().values(**row))
        return (dict(old._mapping) if old else None), stale

    def delete_recording(self, owner: str, clip: str) -> tuple[dict | None, list[dict]]:
        """Delete a recording and the rows of the answers rendered from it; returns both."""
        with self._tx() as c:
            where = (recordings.c.owner == owner, recordings.c.clip == clip)
            old = c.execute(sa.select(recordings).where(*where).with_for_update()).first()
            if old is None:
                return None, []
            stale = self._drop_answers_of(c, owner, clip)
            c.execute(recordings.delete().where(*where))
        return dict(old._mapping), stale

    @staticmethod
    def _drop_answers_of(c, owner: str, clip: str) -> list[dict]:
        where = (answers.c.rec_owner == owner, answers.c.rec_clip == clip)
        stale = [dict(r._mapping) for r in c.execute(sa.select(answers).where(*where))]
        c.execute(answers.delete().where(*where))
        return stale

    # -- answers ----------------------------------------------------------------------------

    def answer(self, key: str, touch: bool = True) -> dict | None:
        with self._tx() as c:
            row = c.execute(sa.select(answers).where(answers.c.key == key)).first()
            if row is not None and touch:
                c.execute(answers.update().where(answers.c.key == key).values(used=time.time()))
        return dict(row._mapping) if row else None

    def add_answer(self, row: dict) -> bool:
        """Index a rendered answer; True when it is indexed (by this call, or already: rendered
        twice at once, e.g. on two workers), False when its recording was deleted meanwhile."""
        row = {**row, "used": time.time()}
        try:
            with self._tx() as c:
                if row.get("rec_owner") is not None:
                    alive = c.execute(sa.select(recordings.c.clip).where(
                        recordings.c.owner == row["rec_owner"], recordings.c.clip == row["rec_clip"])
                        .with_for_update()).first()
                    if alive is None:
                        return False
                if c.execute(sa.select(answers.c.key).where(answers.c.key == row["key"])).first() is None:
                    c.execute(answers.insert().values(**row))
        except sa.exc.IntegrityError:  # the other render indexed it between our look and our insert
            pass
        return True

    def drop_answer(self, key: str) -> None:
        with self._tx() as c:
            c.execute(answers.delete().where(answers.c.key == key))

    def answers_over(self, max_bytes: int) -> list[dict]:
        """The least recently used answers whose removal brings the total to `max_bytes`; their
        rows are deleted here (their media is the caller's to delete)."""
        with self._tx() as c:
            total = c.execute(sa.select(sa.func.coalesce(sa.func.sum(answers.c.bytes), 0))).scalar_one()
            if total <= max_bytes:
                return []
            drop = []
            for row in c.execute(sa.select(answers).order_by(answers.c.used)):
                if total <= max_bytes:
                    break
                drop.append(dict(row._mapping))
                total -= row.bytes
            c.execute(answers.delete().where(answers.c.key.in_([r["key"] for r in drop])))
        return drop

    # -- chat history -----------------------------------------------------------------------

    def add_exchange(self, session: str, message: str, reply: str, keep: int, sessions: int) -> None:
        """Append an exchange to `session`, keeping its last `keep`; now and then the least
        recently active sessions beyond `sessions` are dropped."""
        with self._tx() as c:
            c.execute(exchanges.insert().values(session=session, message=message, reply=reply, at=time.time()))
            ids = sa.select(exchanges.c.id).where(exchanges.c.session == session) \
                .order_by(exchanges.c.id.desc()).offset(keep).limit(1).scalar_subquery()
            c.execute(exchanges.delete().where(exchanges.c.session == session, exchanges.c.id <= ids))
        with self._trim_lock:
            self._since_trim += 1
            due = self._since_trim >= max(1, min(100, sessions // 10))
            if due:
                self._since_trim = 0
        if due:
            self.trim_sessions(sessions)

    def trim_sessions(self, sessions: int) -> None:
        """Drop every session but the `sessions` most recently active ones."""
        with self._tx() as c:
            last = sa.func.max(exchanges.c.at)
            active = sa.select(exchanges.c.session).group_by(exchanges.c.session).order_by(last.desc()) \
                .offset(sessions)
            stale = [r[0] for r in c.execute(active)]
            for start in range(0, len(stale), 500):
                c.execute(exchanges.delete().where(exchanges.c.session.in_(stale[start:start + 500])))

    def history(self, session: str) -> list[tuple[str, str]]:
        with self._tx() as c:
            rows = c.execute(sa.select(exchanges.c.message, exchanges.c.reply)
                             .where(exchanges.c.session == session).order_by(exchanges.c.id))
            return [(m, r) for m, r in rows]

    def forget(self, session: str) -> None:
        with self._tx() as c:
            c.execute(exchanges.delete().where(exchanges.c.session == session))

    def session_count(self) -> int:
        with self._tx() as c:
            return c.execute(sa.select(sa.func.count(sa.distinct(exchanges.c.session)))).scalar_one()

    # -- adaptation jobs and adapted presenters -----------------------------------------------

    def set_adaptation(self, owner: str, base: str, state: str, message: str, share: float,
                       model: str | None = None) -> None:
        values = {"state": state, "message": message, "share": share, "model": model, "updated": time.time()}
        with self._tx() as c:
            where = (adaptations.c.owner == owner, adaptations.c.base == base)
            if c.execute(adaptations.update().where(*where).values(**values)).rowcount == 0:
                c.execute(adaptations.insert().values(owner=owner, base=base, **values))

    def adaptation(self, owner: str, base: str) -> dict | None:
        with self._tx() as c:
            row = c.execute(sa.select(adaptations).where(adaptations.c.owner == owner,
                                                         adaptations.c.base == base)).first()
        return dict(row._mapping) if row else None

    def add_presenter(self, owner: str, name: str, files: list[str]) -> None:
        with self._tx() as c:
            c.execute(presenters.insert().values(owner=owner, name=name, files=json.dumps(files), created=time.time()))

    def presenters_of(self, owner: str) -> list[dict]:
        """`owner`'s adapted presenters, newest first; `files` decoded."""
        with self._tx() as c:
            rows = c.execute(sa.select(presenters).where(presenters.c.owner == owner)
                             .order_by(presenters.c.created.desc()))
            return [{**dict(r._mapping), "files": json.loads(r.files)} for r in rows]

    # -- corpora, settings, unanswered questions ----------------------------------------------

    def add_corpus(self, row: dict) -> None:
        with self._tx() as c:
            c.execute(corpora.insert().values(**row))

    def corpora(self) -> list[dict]:
        """Loaded corpora, newest first; `files` decoded."""
        with self._tx() as c:
            rows = c.execute(sa.select(corpora).order_by(corpora.c.created.desc()))
            return [{**dict(r._mapping), "files": json.loads(r.files)} for r in rows]

    def corpus(self, version: str) -> dict | None:
        with self._tx() as c:
            row = c.execute(sa.select(corpora).where(corpora.c.version == version)).first()
        return {**dict(row._mapping), "files": json.loads(row.files)} if row else None

    def setting(self, name: str) -> str | None:
        with self._tx() as c:
            return c.execute(sa.select(settings.c.value).where(settings.c.name == name)).scalar_one_or_none()

    def set_setting(self, name: str, value: str) -> None:
        with self._tx() as c:
            if c.execute(settings.update().where(settings.c.name == name).values(value=value)).rowcount == 0:
                c.execute(settings.insert().values(name=name, value=value))

    def note_miss(self, corpus: str, kind: str, key: str, question: str, answer: str | None = None,
                  keep: int = 1000) -> None:
        """Count one more `kind` miss (MISS_KINDS) of `question` (keyed by `key`) in `corpus`;
        at most `keep` questions per corpus and kind are kept (the least recently asked go first)."""
        if kind not in MISS_KINDS:
            raise ValueError(f"unknown kind of miss {kind!r}")
        now = time.time()
        with self._tx() as c:
            where = (misses.c.corpus == corpus, misses.c.kind == kind, misses.c.key == key)
            if c.execute(misses.update().where(*where).values(count=misses.c.count + 1, last_asked=now,
                                                              answer=answer)).rowcount == 0:
                c.execute(misses.insert().values(corpus=corpus, kind=kind, key=key, question=question, answer=answer,
                                                 count=1, first_asked=now, last_asked=now))
                kept = (sa.select(misses.c.key).where(misses.c.corpus == corpus, misses.c.kind == kind)
                        .order_by(misses.c.last_asked.desc()).limit(keep))
                c.execute(misses.delete().where(misses.c.corpus == corpus, misses.c.kind == kind,
                                                misses.c.key.not_in(kept.scalar_subquery())))

    def misses(self, corpus: str, kind: str | None = None) -> list[dict]:
        """`corpus`'s misses (of `kind`, default all), most asked first."""
        where = [misses.c.corpus == corpus] + ([misses.c.kind == kind] if kind else [])
        with self._tx() as c:
            rows = c.execute(sa.select(misses).where(*where)
                             .order_by(misses.c.count.desc(), misses.c.last_asked.desc()))
            return [dict(r._mapping) for r in rows]

    def carry_misses(self, old: str, new: str, except_key: str) -> None:
        """Copy `old`'s misses to the corpus version `new` made from it, but the question `except_key`."""
        with self._tx() as c:
            rows = c.execute(sa.select(misses).where(misses.c.corpus == old, misses.c.key != except_key))
            kept = [{**dict(r._mapping), "corpus": new} for r in rows]
            c.execute(misses.delete().where(misses.c.corpus == new))
            if kept:
                c.execute(misses.insert(), kept)

    # -- visitors without a login -----------------------------------------------------------

    def visitor_seen(self, owner: str) -> None:
        """Note that the visitor `owner` (an owner_key) opened the app now."""
        now = time.time()
        with self._tx() as c:
            if c.execute(visitors.update().where(visitors.c.owner == owner).values(last_seen=now)).rowcount == 0:
                c.execute(visitors.insert().values(owner=owner, last_seen=now))

    def visitors_unseen_since(self, before: float) -> list[str]:
        """Visitors (owner keys) last seen before Unix time `before`."""
        with self._tx() as c:
            return list(c.execute(sa.select(visitors.c.owner).where(visitors.c.last_seen < before)).scalars())

    def forget_visitor(self, owner: str) -> None:
        with self._tx() as c:
            c.execute(visitors.delete().where(visitors.c.owner == owner))
