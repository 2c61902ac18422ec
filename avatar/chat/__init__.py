"""The presenter's conversation: a ChatterBot trained on the chatterbot-corpus English corpus,
served read-only (nothing users type is learned)."""

from avatar.chat.bot import FALLBACK, GREETING, Chatbot, Reply, default_db_url, train_corpus

__all__ = ["FALLBACK", "GREETING", "Chatbot", "Reply", "default_db_url", "train_corpus"]
