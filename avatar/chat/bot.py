"""ChatterBot wrapper: corpus training and storage, and fast read-only replies.

The English corpus is trained with ChatterBot's own `ChatterBotCorpusTrainer` (LowercaseTagger,
because spaCy's English model cannot be installed offline) into any SQLAlchemy database; a
team's corpus (`avatar.chat.corpus`) is stored beside it as ChatterBot statements of its own
conversation (`corpus:<version>`), in one transaction. Serving reads one corpus's statements
once into memory and answers from there: ChatterBot's own `get_response` spends its time in the
SQL storage (p95 ~300 ms on the English corpus) and its Levenshtein comparison is fooled by
wording, so questions are matched in memory by meaning with `avatar.chat.match` (bench/chat.py
compares both on held-out paraphrases of several domains). Nothing a user types is ever written
back; chat histories are the service's (kept in the shared database, `avatar.store`).

A reply is one of three kinds. Sure of one answer: that answer. Close to some known questions
but not sure which (the best is middling, or the next is nearly as good): a short line asking,
with up to three of the nearest questions to pick from (the page shows them as buttons). Far
from everything: the fallback line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from avatar.chat.corpus import Corpus
from avatar.chat.match import Matcher, normalise
from avatar.errors import UserError
from avatar.paths import atomic_path, cache_dir, writable_dir

AI_DISCLOSURE = ("Hello! I'm an AI presenter: a computer-generated face and voice answering with a chatbot, "
                 "not a real person.")
GREETING = f"{AI_DISCLOSURE} Ask me about computers, AI, science, history and more."
TEAM_GREETING = "Ask me your questions."  # a team's corpus without its own greeting
# A team's corpus without its own fallback: honest (the question is logged for the operator).
TEAM_FALLBACK = "I'm sorry, I can't answer that yet. I'll pass your question to a colleague."
FALLBACK = ("I'm not sure I understood that. I'm an AI that knows a small set of topics: try asking me about "
            "computers, artificial intelligence, science or history.")
# Said when a message is near some known questions but not surely one of them (the page offers them).
CLARIFY = "I'm not sure which of these you mean. Please pick one, or ask in other words."
CORPUS = "chatterbot.corpus.english"
ENGLISH = "english"  # the version name of the chatterbot-corpus English corpus, always available


@dataclass(frozen=True)
class Policy:
    """When a match is an answer, a question back, or the fallback (scores as `Matcher.scores`).

    answer: least score of an answer; margin: least lead of the best over the next, unless the
    best reaches `sure`; ask: least score of a question back (below it: the fallback);
    spread: how far below the best a suggestion may score."""

    answer: float
    margin: float
    sure: float
    ask: float
    spread: float = 0.1


# Per matcher (`avatar.chat.match`), chosen on the dev sets only (bench/chat.py --tune over
# bench/chat/*-dev.csv; the held-out sets never tuned anything).
POLICIES = {"meaning": Policy(answer=0.36, margin=0.08, sure=0.70, ask=0.36),
            "words": Policy(answer=0.32, margin=0.06, sure=0.60, ask=0.32),
            "both": Policy(answer=0.34, margin=0.08, sure=0.60, ask=0.32)}
MATCHERS = tuple(POLICIES)
WORDS_WEIGHT = {"meaning": 0.0, "both": 0.5}  # the word view's share beside meaning
MATCHER = "both"  # the app's: best on the dev sets (bench/chat.py)


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


def store_corpus(db_url: str | None, corpus: Corpus, version: str) -> int:
    """Store `corpus` as ChatterBot statements of conversation `corpus:<version>` in `db_url`
    (each phrasing a statement, its answer a statement in response to it), all in one
    transaction: a failure leaves nothing of it. Returns the statements stored."""
    import json
    import subprocess
    import sys
    import tempfile

    from avatar.paths import scratch_dir

    db_url = db_url or default_db_url()
    if _sqlite_path(db_url) is not None and not _sqlite_path(db_url).exists():
        train_corpus(db_url)  # the English corpus first: it stays available beside the team's
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=writable_dir(scratch_dir(), "temporary folder")) as f:
        json.dump([[list(pair.questions), pair.answer] for pair in corpus.pairs], f)
        f.flush()
        done = subprocess.run([sys.executable, "-c", "import sys; from avatar.chat.bot import _load_here; "
                               "print(_load_here(*sys.argv[1:]))", db_url, f.name, conversation_of(version)],
                              capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"storing the corpus failed: {done.stderr.strip().splitlines()[-1:]}")
    return int(done.stdout.split()[-1])


def _load_here(db_url: str, pairs_file: str, conversation: str) -> int:
    import json

    from chatterbot.conversation import Statement

    bot = chatterbot_engine(db_url, read_only=False)
    index = bot.tagger.get_text_index_string
    statements = []
    for questions, answer in json.loads(Path(pairs_file).read_text()):
        for question in questions:
            statements += [Statement(text=question, search_text=index(question), conversation=conversation),
                           Statement(text=answer, search_text=index(answer), in_response_to=question,
                                     search_in_response_to=index(question), conversation=conversation)]
    bot.storage.create_many(statements)  # one session, one commit
    bot.storage.engine.dispose()
    return len(statements)


def conversation_of(version: str) -> str:
    """The ChatterBot conversation name of corpus `version` (ChatterBot's own trainers use
    "training": the English corpus)."""
    return "training" if version == ENGLISH else f"corpus:{version}"


@dataclass(frozen=True)
class Reply:
    """text: what the presenter says; confidence: the best match's score (1 for a known
    phrasing); matched: the known question answered, None when the presenter asked back or said
    the fallback; suggestions: when asking back, the nearest known questions, best first."""

    text: str
    confidence: float
    matched: str | None
    suggestions: tuple[str, ...] = field(default=())

    @property
    def kind(self) -> str:
        """"answer", "clarify" (asked back, with suggestions) or "fallback"."""
        return "answer" if self.matched is not None else "clarify" if self.suggestions else "fallback"


class Chatbot:
    """Read-only replies from one corpus of a trained database; safe to share between threads.

    corpus: ENGLISH or a loaded corpus's version. matcher: "meaning" (sentence embeddings),
    "words" (TF-IDF) or "both" (meaning with half as much words: the default, see MATCHER and
    `avatar.chat.match`); policy: when a match is an answer, a question back or `fallback`
    (default: the matcher's, `POLICIES`). train_if_empty: train the English corpus into `db_url`
    first when it has none (a shared database set up by its first replica).
    """

    def __init__(self, db_url: str | None = None, train_if_empty: bool = False, corpus: str = ENGLISH,
                 fallback: str | None = None, matcher: str = MATCHER, policy: Policy | None = None):
        from avatar.inference.sentence import VectorCache, sentence_encoder

        if matcher not in POLICIES:
            raise UserError(f"there is no matcher {matcher!r}; choose one of {', '.join(POLICIES)}.")
        self.db_url = db_url or default_db_url()
        path = _sqlite_path(self.db_url)
        if self.db_url == default_db_url() and path is not None and not path.exists():
            train_corpus(self.db_url)  # the shipped default builds itself (~2 s)
        elif train_if_empty:
            ensure_trained(self.db_url)
        self.corpus, self.fallback = corpus, fallback or FALLBACK
        self.policy = policy or POLICIES[matcher]
        self.entries = self._load()
        if not self.entries:
            raise UserError(f"the chat database {self.db_url} has no corpus {corpus!r}: run "
                            f"`avatar chat train --db {self.db_url}`.")
        if matcher == "words":
            self._matcher = Matcher(self.entries)
        else:
            self._matcher = Matcher(self.entries, sentence_encoder(), VectorCache(), WORDS_WEIGHT[matcher])

    def _load(self) -> list[tuple[tuple[str, ...], str]]:
        """(phrasings, answer) per distinct answer, in the order training stored them."""
        from sqlalchemy import create_engine, text

        path = _sqlite_path(self.db_url)
        if path is not None and not path.exists():
            raise UserError(f"no chat database at {path}: run `avatar chat train --db {self.db_url}`.")
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(text(
                    "SELECT text, in_response_to FROM statement WHERE in_response_to IS NOT NULL "
                    "AND conversation = :conversation ORDER BY id"), {"conversation": conversation_of(self.corpus)})
                phrasings: dict[str, list[str]] = {}
                for answer, question in rows:
                    if normalise(question):
                        phrasings.setdefault(answer, [])
                        if question not in phrasings[answer]:
                            phrasings[answer].append(question)
        finally:
            engine.dispose()
        return [(tuple(questions), answer) for answer, questions in phrasings.items()]

    def reply(self, message: str) -> Reply:
        """The presenter's answer to `message`: an answer, a question back with suggestions, or
        the fallback (see the module docstring)."""
        if not normalise(message):
            return Reply(self.fallback, 0.0, None)
        return self.decide(self.ranked(message))

    def ranked(self, message: str) -> list[tuple[int, float]]:
        """The three best (entry, score) for `message`, best first (`Matcher.ranked`); a known
        phrasing (ignoring case and punctuation) alone, with score 1."""
        exact = self._matcher.exact(message)
        return [(exact, 1.0)] if exact is not None else self._matcher.ranked(message)

    def decide(self, ranked: list[tuple[int, float]], policy: Policy | None = None) -> Reply:
        """The reply for matches ranked best first ((entry, score), as `ranked` gives them),
        by `policy` (default: the chatbot's)."""
        policy = policy or self.policy
        (best, score), runner_up = ranked[0], (ranked[1][1] if len(ranked) > 1 else -1.0)
        confidence = round(max(score, 0.0), 3)
        if score >= policy.answer and (score - runner_up >= policy.margin or score >= policy.sure):
            questions, answer = self.entries[best]
            return Reply(answer, confidence, questions[0])
        if score < policy.ask:
            return Reply(self.fallback, confidence, None)
        near = [self.entries[i][0][0] for i, s in ranked if s >= max(policy.ask, score - policy.spread)]
        return Reply(CLARIFY, confidence, None, tuple(near))
