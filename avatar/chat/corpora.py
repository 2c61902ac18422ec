"""The corpora a deployment answers from: the English corpus and a team's loaded versions, one
of them active for every replica, and the misses the operator should see: questions given the
fallback, questions the presenter asked back about, answers visitors marked as not helpful. An
operator attaches such a question to an existing answer as a new phrasing in one step, which
makes a new version (`add_phrasing`); answers already rendered stay rendered (they are cached by
their text).

A loaded corpus is a version: its statements are ChatterBot's (conversation `corpus:<version>`
in the chat database, stored in one transaction) and its description a row of the shared
database (`avatar.store`, table `corpora`), written after the statements (a crash between the
two leaves statements nobody lists, never a listed corpus without them). The version is a hash
of the files, name, fallback and greeting, so loading the same files again only activates them.
The active version is a shared setting; each replica checks it every CORPUS_CHECK_SECONDS.
Until an operator chooses one, the deployment's default answers: the shipped demo FAQ of a
fictional shop (DEMO, loaded on first use) or the English corpus (`AVATAR_CORPUS=english`).
The demo FAQ is the default because the people who try the product first are customer-relations
teams: asked "What are your opening hours?" or "I want a refund", it answers as their own FAQ
would, where the English small-talk corpus says "I am baking a cake".
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

from avatar.chat.bot import (AI_DISCLOSURE, ENGLISH, GREETING, TEAM_FALLBACK, TEAM_GREETING, Chatbot, Reply,
                             store_corpus)
from avatar.chat.corpus import MAX_ANSWER, MAX_QUESTION, Corpus, Pair, read_corpus
from avatar.chat.match import normalise
from avatar.config import Deployment
from avatar.errors import UserError, quoted
from avatar.store import Store

ACTIVE = "active_corpus"  # the shared setting naming the corpus every replica answers from
CORPUS_CHECK_SECONDS = 2.0  # how stale a replica's idea of the active corpus may be
DEMO = "demo-shop"  # the shipped demo FAQ's name as a default (AVATAR_CORPUS)
DEMO_FILE = Path(__file__).resolve().parents[2] / "assets/chat/demo-shop.csv"
DEMO_NAME = "Demo FAQ: Juniper and Co., a fictional shop"
DEMO_GREETING = ("Ask me about your order, delivery, returns and refunds, payment, your account or our shop "
                 "(a fictional shop, for this demo).")
DEFAULTS = (DEMO, ENGLISH)
ENGLISH_ROW = {"version": ENGLISH, "name": "English small talk (chatterbot-corpus)", "files": [], "sha256": None,
               "pairs": None, "phrasings": None, "fallback": None, "greeting": None, "loaded_by": None,
               "created": None}


def _line(text: str | None, what: str) -> str | None:
    """`text` on one line, None when empty; UserError when longer than an answer may be."""
    text = " ".join((text or "").split())
    if len(text) > MAX_ANSWER:
        raise UserError(f"the {what} is {len(text)} characters long; at most {MAX_ANSWER}.")
    return text or None


class Corpora:
    """The corpora of the deployment whose shared state is `store` and chat statements are in
    `chat_db` (None: the SQLite file under the cache). Safe to share between threads."""

    def __init__(self, store: Store, chat_db: str | None, default: str = DEMO):
        if default not in DEFAULTS:
            raise UserError(f"the default corpus is one of {', '.join(DEFAULTS)}, not {quoted(default)}.")
        self.store, self.chat_db, self.default = store, chat_db, default
        self._lock = threading.Lock()
        self._demo_lock = threading.Lock()
        self._demo: str | None = None
        self._chatbot: Chatbot | None = None
        self._pinned: dict[str, Chatbot] = {}  # other versions asked for by name (the study's English)
        self._checked = float("-inf")

    def active(self) -> str:
        """The version every replica answers from: the chosen one, else the default's."""
        return self.store.setting(ACTIVE) or (self.demo() if self.default == DEMO else ENGLISH)

    def demo(self) -> str:
        """The shipped demo FAQ's version, loaded (not activated) on first use."""
        with self._demo_lock:
            if self._demo is None:
                self._demo = self._store([DEMO_FILE], DEMO_NAME, None, DEMO_GREETING, None)
            return self._demo

    def row(self, version: str) -> dict | None:
        return ENGLISH_ROW if version == ENGLISH else self.store.corpus(version)

    def list(self) -> list[dict]:
        """Loaded corpora newest first, then the English corpus; rows as in `avatar.store`
        plus `active`."""
        active = self.active()
        return [{**row, "active": row["version"] == active} for row in [*self.store.corpora(), ENGLISH_ROW]]

    def load(self, paths: list[Path], name: str | None = None, fallback: str | None = None,
             greeting: str | None = None, by: str | None = None, activate: bool = True) -> dict:
        """Check and store a corpus from `paths` (see `avatar.chat.corpus`) as a version; with
        `activate`, every replica answers from it. Nothing changes when a file is refused
        (UserError naming the file and line). `by`: the loading operator's owner key. Returns
        the version's row with `active`."""
        version = self._store(paths, name, fallback, greeting, by)
        if activate:
            self.use(version)
        return {**self.store.corpus(version), "active": self.active() == version}

    def _store(self, paths: list[Path], name: str | None, fallback: str | None, greeting: str | None,
               by: str | None) -> str:
        """The version of this corpus, stored unless it was already."""
        corpus = read_corpus([Path(p) for p in paths], name)
        fallback, greeting = _line(fallback, "fallback line"), _line(greeting, "greeting")
        version = hashlib.sha256(json.dumps([corpus.sha256, corpus.name, fallback, greeting]).encode()).hexdigest()[:12]
        if self.store.corpus(version) is None:
            store_corpus(self.chat_db, corpus, version)
            self._add_row({"version": version, "name": corpus.name, "files": json.dumps(list(corpus.files)),
                           "sha256": corpus.sha256, "pairs": len(corpus.pairs), "phrasings": corpus.phrasings,
                           "fallback": fallback, "greeting": greeting, "loaded_by": by, "created": time.time()})
        return version

    def _add_row(self, row: dict) -> None:
        """Describe a stored corpus; another replica loading the same files at once already did."""
        from sqlalchemy.exc import IntegrityError

        try:
            self.store.add_corpus(row)
        except IntegrityError:
            if self.store.corpus(row["version"]) is None:
                raise

    def use(self, version: str) -> dict:
        """Make `version` (or ENGLISH, or DEMO: the shipped demo FAQ) the corpus every replica
        answers from; returns its row."""
        version = self.demo() if version == DEMO else version
        row = self.row(version)
        if row is None:
            raise UserError(f"there is no corpus version {quoted(version)}; `avatar chat corpora` lists them.")
        self.store.set_setting(ACTIVE, version)
        with self._lock:
            self._checked = float("-inf")  # this replica switches at its next reply
        return row

    def chatbot(self, version: str | None = None) -> Chatbot:
        """The chatbot of `version` (default: the active corpus), loaded on first use (once,
        however many requests ask at once); the active one again when another corpus was made
        active (by any replica)."""
        with self._lock:
            if version is not None and (self._chatbot is None or self._chatbot.corpus != version):
                if version not in self._pinned:
                    self._pinned[version] = self._open(version)
                return self._pinned[version]
            now = time.monotonic()
            if self._chatbot is None or now - self._checked > CORPUS_CHECK_SECONDS:
                self._checked = now
                active = self.active()
                if self._chatbot is None or self._chatbot.corpus != active:
                    self._chatbot = self._pinned.pop(active, None) or self._open(active)
            return self._chatbot

    def _open(self, version: str) -> Chatbot:
        row = self.row(version)
        if row is None:
            raise UserError(f"there is no corpus version {quoted(version)}; `avatar chat corpora` lists them.")
        fallback = row["fallback"] or (TEAM_FALLBACK if version != ENGLISH else None)
        return Chatbot(self.chat_db, train_if_empty=self.chat_db is not None, corpus=version, fallback=fallback)

    def reply(self, message: str, version: str | None = None) -> Reply:
        """The reply of `version` (default: the active corpus) to `message`; a fallback or a
        question back is noted for the operator's list."""
        chatbot = self.chatbot(version)
        reply = chatbot.reply(message)
        if reply.kind != "answer" and normalise(message):
            kind = "unanswered" if reply.kind == "fallback" else "unsure"
            self.store.note_miss(chatbot.corpus, kind, question_key(message), " ".join(message.split()),
                                 " | ".join(reply.suggestions) or None)
        return reply

    def not_helpful(self, question: str, answer: str, version: str | None = None) -> None:
        """Note that a visitor found `answer` (the presenter's reply to `question`) not helpful."""
        question = " ".join(str(question).split())[:MAX_QUESTION]
        if not normalise(question):
            raise UserError("there is no question to mark.")
        self.store.note_miss(version or self.active(), "unhelpful", question_key(question), question,
                             " ".join(str(answer).split())[:MAX_ANSWER])

    def misses(self, version: str | None = None) -> list[dict]:
        """What `version` (default: the active corpus) missed, most asked first: kind
        ("unanswered", "unsure", "unhelpful"), question, answer (what was said, or the
        suggestions), count, first_asked, last_asked (Unix time)."""
        return self.store.misses(version or self.active())

    def unanswered(self, version: str | None = None) -> list[dict]:
        """Questions `version` (default: the active corpus) answered with the fallback, most asked first."""
        return self.store.misses(version or self.active(), "unanswered")

    def misses_text(self, rows: list[dict] | None = None) -> str:
        """Misses (`rows` as `misses` gave them, default: the active corpus's) as CSV text (see `misses_csv`)."""
        return misses_csv(self.misses() if rows is None else rows)

    def add_phrasing(self, question: str, to: str, by: str | None = None) -> dict:
        """Make `question` a new phrasing of the active corpus's entry whose first phrasing is
        `to`, as a new version (same name, fallback and greeting) that becomes active; the
        question leaves the list of misses. `by`: the operator's owner key. Returns its row."""
        question = " ".join(str(question or "").split())
        if not normalise(question):
            raise UserError("choose a question to attach first.")
        if len(question) > MAX_QUESTION:
            raise UserError(f"that question is {len(question)} characters long; at most {MAX_QUESTION}.")
        version = self.active()
        entries = self.chatbot(version).entries
        target = next((i for i, (questions, _) in enumerate(entries) if questions[0] == to), None)
        if target is None:
            raise UserError(f"the active corpus has no question {quoted(str(to))}; choose one of its answers.")
        for i, (questions, _) in enumerate(entries):
            if any(normalise(q) == normalise(question) for q in questions):
                where = "this answer" if i == target else quoted(questions[0])
                raise UserError(f"{quoted(question)} is already a phrasing of {where}.")
        old = self.row(version)
        pairs = tuple(Pair(questions + ((question,) if i == target else ()), answer, i + 1)
                      for i, (questions, answer) in enumerate(entries))
        files = list(old["files"] or [])
        digest = hashlib.sha256(json.dumps([version, to, question]).encode()).hexdigest()
        corpus = Corpus(old["name"], pairs, tuple(files), digest)
        new = digest[:12]
        if self.store.corpus(new) is None:
            store_corpus(self.chat_db, corpus, new)
            self._add_row({"version": new, "name": corpus.name, "files": json.dumps(files), "sha256": digest,
                           "pairs": len(pairs), "phrasings": corpus.phrasings, "fallback": old["fallback"],
                           "greeting": old["greeting"], "loaded_by": by, "created": time.time()})
        self.store.carry_misses(version, new, question_key(question))
        self.use(new)
        return {**self.store.corpus(new), "active": True}

    def greeting(self) -> str:
        """The chat's first line: that the presenter is an AI (always), then the active corpus's
        invitation."""
        version = self.active()
        row = self.row(version)
        if version == ENGLISH or row is None:
            return GREETING
        return f"{AI_DISCLOSURE} {row['greeting'] or TEAM_GREETING}"


def question_key(question: str) -> str:
    """The key of a question in the list of misses: the same for the same words, whatever the case and punctuation."""
    return hashlib.sha256(normalise(question).encode()).hexdigest()[:32]


def misses_csv(rows: list[dict]) -> str:
    """Misses as CSV text: kind, question, answer, count, first_asked, last_asked (UTC ISO 8601)."""
    import csv
    import io
    from datetime import datetime, timezone

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def cell(text: str | None) -> str:
        # A spreadsheet would run a cell starting with these as a formula: quoted as text.
        text = text or ""
        return "'" + text if text and text[0] in "=+-@\t\r" else text

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["kind", "question", "answer", "count", "first_asked", "last_asked"])
    for row in rows:
        writer.writerow([row["kind"], cell(row["question"]), cell(row.get("answer")), row["count"],
                         iso(row["first_asked"]), iso(row["last_asked"])])
    return out.getvalue()


def open_corpora(deploy: Deployment | None = None) -> Corpora:
    """The corpora of `deploy` (default: this machine's, `Deployment.from_env()`) in its database,
    without the rest of the service (no presenter, no voice): what `avatar chat` works on."""
    deploy = deploy or Deployment.from_env()
    return Corpora(Store(deploy.db_url).prepare(), deploy.db, default=deploy.corpus)
