"""ChatterBot wrapper: corpus training, and fast read-only replies.

Training is ChatterBot's own (`ChatterBotCorpusTrainer`, LowercaseTagger because spaCy's
English model cannot be installed offline) into any SQLAlchemy database. Serving reads that
database once into memory and answers from there: measured on the English corpus, ChatterBot's
own `get_response` spends its time in the SQL storage, not in matching (one lazy query per
candidate statement for its tags, then building ORM objects for ~1,000 candidates a question:
p95 ~300 ms), so the same known-question -> answer pairs are matched in memory instead with the
same Levenshtein-ratio similarity ChatterBot uses (bench/chat.py compares both, answer for
answer). Nothing a user types is ever written back; chat histories are the service's (kept in
the shared database, `avatar.store`).
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from avatar.errors import UserError
from avatar.paths import atomic_path, cache_dir, writable_dir

GREETING = ("Hello! I'm an AI presenter: a computer-generated face and voice answering with a chatbot, "
            "not a real person. Ask me about computers, AI, science, history and more.")
FALLBACK = ("I'm not sure I understood that. I'm an AI that knows a small set of topics: try asking me about "
            "computers, artificial intelligence, science or history.")
CORPUS = "chatterbot.corpus.english"
_WORD = re.compile(r"[a-z0-9']+")


def default_db_url() -> str:
    """SQLite database under `$AVATAR_CACHE` (default `~/.cache/avatar`), built on first use."""
    return f"sqlite:///{cache_dir('chat') / 'english.sqlite3'}"


def _sqlite_path(db_url: str) -> Path | None:
    return Path(db_url.removeprefix("sqlite:///")) if db_url.startswith("sqlite:///") else None


def chatterbot_engine(db_url: str, read_only: bool):
    from chatterbot import ChatBot
    from chatterbot.tagging import LowercaseTagger

    return ChatBot("Presenter", storage_adapter="chatterbot.storage.SQLStorageAdapter", database_uri=db_url,
                   tagger=LowercaseTagger, read_only=read_only)


def train_corpus(db_url: str | None = None, corpus: str = CORPUS) -> int:
    """Train ChatterBot on `corpus` into `db_url` (SQLite: built in a temp file, then renamed,
    so a crash never leaves half a database). Returns the number of statements stored."""
    db_url = db_url or default_db_url()
    target = _sqlite_path(db_url)
    if target is None:
        return _train(db_url, corpus)
    writable_dir(target.parent, "chat database folder")
    with atomic_path(target) as building:
        return _train(f"sqlite:///{building}", corpus)


def ensure_trained(db_url: str, corpus: str = CORPUS) -> int:
    """Train `corpus` into the shared database `db_url` unless its statements are there; replicas
    starting together train it once (PostgreSQL advisory lock). Returns the statements stored."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": 0x63686174})  # "chat"
            if inspect(connection).has_table("statement"):
                count = connection.execute(text("SELECT count(*) FROM statement")).scalar_one()
                if count:
                    return count
            return _train(db_url, corpus)  # the lock is held until this transaction ends
    finally:
        engine.dispose()


def _train(db_url: str, corpus: str) -> int:
    """ChatterBot's training in a fresh process: with SQLite, ChatterBot's storage adapter adds a
    `PRAGMA journal_mode` hook to every SQLAlchemy engine of the process it runs in, which then
    breaks any PostgreSQL engine the same process opens (the shared state, a second database)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import sys; from avatar.chat.bot import _train_here; "
                           "print(_train_here(sys.argv[1], sys.argv[2]))", db_url, corpus],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"training the chat corpus failed: {done.stderr.strip().splitlines()[-1:]}")
    return int(done.stdout.split()[-1])


def _train_here(db_url: str, corpus: str) -> int:
    from chatterbot.trainers import ChatterBotCorpusTrainer

    bot = chatterbot_engine(db_url, read_only=False)
    ChatterBotCorpusTrainer(bot, show_training_progress=False).train(corpus)
    count = bot.storage.count()
    bot.storage.engine.dispose()
    return count


def _normalise(text: str) -> str:
    return " ".join(_WORD.findall(str(text).lower()))


@dataclass(frozen=True)
class Reply:
    """text: what the presenter says; confidence: similarity of the matched known question
    (0..1, 0 for the fallback); matched: that question, or None."""

    text: str
    confidence: float
    matched: str | None


class Chatbot:
    """Read-only replies from a trained database; safe to share between threads.

    threshold: least similarity (Levenshtein ratio of normalised texts) for a match; below it
    the presenter says FALLBACK. train_if_empty: train the corpus into `db_url` first when it
    has none (a shared database set up by its first replica).
    """

    def __init__(self, db_url: str | None = None, threshold: float = 0.6, train_if_empty: bool = False):
        self.db_url = db_url or default_db_url()
        path = _sqlite_path(self.db_url)
        if self.db_url == default_db_url() and path is not None and not path.exists():
            train_corpus(self.db_url)  # the shipped default builds itself (~2 s)
        elif train_if_empty:
            ensure_trained(self.db_url)
        self.threshold = threshold
        self._answers = self._load()
        if not self._answers:
            raise UserError(f"the chat database {self.db_url} is empty: run `avatar chat train --db {self.db_url}`.")
        self._questions = list(self._answers)
        self._by_word = defaultdict(set)
        for i, question in enumerate(self._questions):
            for word in set(question.split()):
                self._by_word[word].add(i)

    def _load(self) -> dict[str, list[str]]:
        """Normalised known question -> answers in the order training stored them."""
        from sqlalchemy import create_engine, text

        path = _sqlite_path(self.db_url)
        if path is not None and not path.exists():
            raise UserError(f"no chat database at {path}: run `avatar chat train --db {self.db_url}`.")
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(text(
                    "SELECT text, in_response_to FROM statement WHERE in_response_to IS NOT NULL ORDER BY id"))
                answers: dict[str, list[str]] = {}
                for answer, question in rows:
                    answers.setdefault(_normalise(question), []).append(answer)
        finally:
            engine.dispose()
        answers.pop("", None)
        return answers

    def reply(self, message: str) -> Reply:
        """The presenter's answer to `message`."""
        return self._match(_normalise(message))

    def _match(self, query: str) -> Reply:
        if not query:
            return Reply(FALLBACK, 0.0, None)
        if query in self._answers:
            return Reply(self._answers[query][0], 1.0, query)
        candidates = set().union(*(self._by_word.get(word, ()) for word in set(query.split())))
        best, best_score = None, 0.0
        matcher = difflib.SequenceMatcher(b=query, autojunk=False)
        for i in candidates:
            matcher.set_seq1(self._questions[i])
            # Cheap upper bounds first: most candidates cannot beat the best so far.
            if matcher.real_quick_ratio() <= best_score or matcher.quick_ratio() <= best_score:
                continue
            score = matcher.ratio()
            if score > best_score:
                best, best_score = self._questions[i], score
        if best is None or best_score < self.threshold:
            return Reply(FALLBACK, 0.0, None)
        return Reply(self._answers[best][0], round(best_score, 3), best)
