"""The presenter's conversation: ChatterBot corpora (the chatterbot-corpus English corpus and a
team's own question-and-answer files), served read-only (nothing users type is learned)."""

from avatar.chat.bot import (ENGLISH, FALLBACK, GREETING, Chatbot, Reply, default_db_url, store_corpus,
                             train_corpus)
from avatar.chat.corpus import Corpus, read_corpus

__all__ = ["ENGLISH", "FALLBACK", "GREETING", "Chatbot", "Corpus", "Reply", "default_db_url", "store_corpus",
           "read_corpus", "train_corpus"]
