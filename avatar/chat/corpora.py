"""The corpora a deployment answers from: the English corpus and a team's loaded versions, one
of them active for every replica, and the questions the presenter could not answer.

A loaded corpus is a version: its statements are ChatterBot's (conversation `corpus:<version>`
in the chat database, stored in one transaction) and its description a row of the shared
database (`avatar.store`, table `corpora`), written after the statements (a crash between the
two leaves statements nobody lists, never a listed corpus without them). The version is a hash
of the files, name, fallback and greeting, so loading the same files again only activates them.
The active version is a shared setting; each replica checks it every CORPUS_CHECK_SECONDS.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

from avatar.chat.bot import (AI_DISCLOSURE, ENGLISH, GREETING, TEAM_FALLBACK, TEAM_GREETING, Chatbot, Reply,
                             store_corpus)
from avatar.chat.corpus import MAX_ANSWER, read_corpus
from avatar.chat.match import normalise
from avatar.errors import UserError, quoted

ACTIVE = "active_corpus"  # the shared setting naming the corpus every replica answers from
CORPUS_CHECK_SECONDS = 2.0  # how stale a replica's idea of the active corpus may be
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

    def __init__(self, store, chat_db: str | None):
        self.store, self.chat_db = store, chat_db
        self._lock = threading.Lock()
        self._chatbot: Chatbot | None = None
        self._checked = float("-inf")

    def active(self) -> str:
        """The version every replica answers from (ENGLISH until one is chosen)."""
        return self.store.setting(ACTIVE) or ENGLISH

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
        corpus = read_corpus([Path(p) for p in paths], name)
        fallback, greeting = _line(fallback, "fallback line"), _line(greeting, "greeting")
        version = hashlib.sha256(json.dumps([corpus.sha256, corpus.name, fallback, greeting]).encode()).hexdigest()[:12]
        if self.store.corpus(version) is None:
            store_corpus(self.chat_db, corpus, version)
            self.store.add_corpus({"version": version, "name": corpus.name, "files": json.dumps(list(corpus.files)),
                                   "sha256": corpus.sha256, "pairs": len(corpus.pairs),
                                   "phrasings": corpus.phrasings, "fallback": fallback, "greeting": greeting,
                                   "loaded_by": by, "created": time.time()})
        if activate:
            self.use(version)
        return {**self.store.corpus(version), "active": self.active() == version}

    def use(self, version: str) -> dict:
        """Make `version` (or ENGLISH) the corpus every replica answers from; returns its row."""
        row = self.row(version)
        if row is None:
            raise UserError(f"there is no corpus version {quoted(version)}; `avatar chat corpora` lists them.")
        self.store.set_setting(ACTIVE, version)
        with self._lock:
            self._checked = float("-inf")  # this replica switches at its next reply
        return row

    def chatbot(self) -> Chatbot:
        """The active corpus's chatbot, loaded on first use (once, however many requests ask at
        once) and again when another corpus was made active (by any replica)."""
        with self._lock:
            now = time.monotonic()
            if self._chatbot is None or now - self._checked > CORPUS_CHECK_SECONDS:
                self._checked = now
                version = self.active()
                if self._chatbot is None or self._chatbot.corpus != version:
                    row = self.row(version) or ENGLISH_ROW
                    fallback = row["fallback"] or (TEAM_FALLBACK if version != ENGLISH else None)
                    self._chatbot = Chatbot(self.chat_db, train_if_empty=self.chat_db is not None,
                                            corpus=row["version"], fallback=fallback)
            return self._chatbot

    def reply(self, message: str) -> Reply:
        """The active corpus's reply to `message`; a fallback is noted for the operator's list."""
        chatbot = self.chatbot()
        reply = chatbot.reply(message)
        if reply.matched is None and normalise(message):
            key = hashlib.sha256(normalise(message).encode()).hexdigest()[:32]
            self.store.note_unanswered(chatbot.corpus, key, " ".join(message.split()))
        return reply

    def unanswered(self, version: str | None = None) -> list[dict]:
        """Questions `version` (default: the active corpus) answered with the fallback, most
        asked first: question, count, first_asked, last_asked (Unix time)."""
        return self.store.unanswered(version or self.active())

    def greeting(self) -> str:
        """The chat's first line: that the presenter is an AI (always), then the active corpus's
        invitation."""
        version = self.active()
        row = self.row(version)
        if version == ENGLISH or row is None:
            return GREETING
        return f"{AI_DISCLOSURE} {row['greeting'] or TEAM_GREETING}"


def unanswered_csv(rows: list[dict]) -> str:
    """Unanswered questions as CSV text: question, count, first_asked, last_asked (UTC ISO 8601)."""
    import csv
    import io
    from datetime import datetime, timezone

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["question", "count", "first_asked", "last_asked"])
    for row in rows:
        question = row["question"]
        # A spreadsheet would run a cell starting with these as a formula: quoted as text.
        writer.writerow(["'" + question if question[:1] in "=+-@\t\r" else question, row["count"],
                         iso(row["first_asked"]), iso(row["last_asked"])])
    return out.getvalue()
