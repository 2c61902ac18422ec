"""Which known question a message asks, and how sure that is: TF-IDF similarity (scikit-learn)
over words and character n-grams, in memory.

ChatterBot's default comparison (Levenshtein ratio of whole strings) is fooled by wording:
"When are you open?" is far from "What are your opening hours?" letter by letter, and "Who
invented the telephone?" is close to "What is your phone number?". Two views of the text fix
most of that (bench/chat.py measures both on held-out paraphrases):

- ranking: cosine similarity of TF-IDF vectors of word 1-2 grams and character 2-5 grams
  (within words, so "opening" meets "open"), over every phrasing of a question, plus a share
  of the similarity to its answer (people ask with the answer's words: "Do you take PayPal?");
- confidence: the same similarity with English stop words removed, for the question ranked
  first. Shared frames ("what is the", "how do I") say nothing about the topic, so an
  off-topic message scores low here even when its frame matches a known question.

Texts are lower-cased with punctuation dropped; scikit-learn is imported only here.
"""

from __future__ import annotations

import re

import numpy as np

_WORD = re.compile(r"[a-z0-9]+")
# Kept although common: they change what is asked ("not arrived", "back in stock", "next day").
_MEANINGFUL = {"not", "no", "never", "cannot", "back", "next", "call", "find", "get", "give", "put", "show",
               "move", "over", "off", "out", "up", "down", "less", "more", "first", "last", "take"}


def normalise(text: str) -> str:
    """Lower case, apostrophes dropped, punctuation as spaces: "What's up?" -> "whats up"."""
    return " ".join(_WORD.findall(str(text).lower().replace("'", "").replace("\u2019", "")))


def _content(text: str) -> str:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return " ".join(w for w in normalise(text).split() if w not in ENGLISH_STOP_WORDS or w in _MEANINGFUL)


class _View:
    """TF-IDF of word 1-2 grams (or 1 grams) and character n-grams of `prepare`d texts, rows
    normalised to unit length."""

    def __init__(self, prepare, texts: list[str], word_ngrams: tuple[int, int]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.words = TfidfVectorizer(preprocessor=prepare, ngram_range=word_ngrams, sublinear_tf=True)
        self.chars = TfidfVectorizer(preprocessor=prepare, analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
        self.words.fit(texts)
        self.chars.fit(texts)

    def __call__(self, texts: list[str]):
        from scipy.sparse import hstack
        from sklearn.preprocessing import normalize

        return normalize(hstack([self.words.transform(texts), self.chars.transform(texts)]).tocsr())


class Matcher:
    """Ranks the entries of a corpus for a message.

    entries: (phrasings of a question, answer) per entry. answer_weight: share of the answer's
    similarity added to the best phrasing's (0..1). Thread-safe after construction.
    """

    def __init__(self, entries: list[tuple[tuple[str, ...], str]], answer_weight: float = 0.3):
        if not entries:
            raise ValueError("a matcher needs at least one entry")
        phrasings = [q for questions, _ in entries for q in questions]
        answers = [answer for _, answer in entries]
        self._entry_of = np.array([i for i, (questions, _) in enumerate(entries) for _ in questions])
        self._exact = {}
        for i, (questions, _) in enumerate(entries):
            for question in questions:
                self._exact.setdefault(normalise(question), i)
        self.answer_weight = answer_weight
        self._rank = _View(normalise, phrasings + answers, (1, 2))
        self._topic = _View(_content, phrasings + answers, (1, 1))
        self._rank_q, self._rank_a = self._rank(phrasings), self._rank(answers)
        self._topic_q, self._topic_a = self._topic(phrasings), self._topic(answers)
        self.size = len(entries)

    def best(self, message: str) -> tuple[int, float]:
        """(entry index, confidence 0..1) of the best match; confidence 1 for a known phrasing
        (ignoring case and punctuation)."""
        exact = self._exact.get(normalise(message))
        if exact is not None:
            return exact, 1.0
        ranked = self._scores(message, self._rank, self._rank_q, self._rank_a)
        best = int(ranked.argmax())
        topic = self._scores(message, self._topic, self._topic_q, self._topic_a)
        return best, float(np.clip(topic[best], 0.0, 1.0))

    def _scores(self, message: str, view: _View, questions, answers) -> np.ndarray:
        """Per entry: best phrasing's cosine similarity plus answer_weight x the answer's, / (1 + weight)."""
        query = view([message]).T
        by_phrasing = (questions @ query).toarray().ravel()
        per_entry = np.zeros(self.size)
        np.maximum.at(per_entry, self._entry_of, by_phrasing)
        return (per_entry + self.answer_weight * (answers @ query).toarray().ravel()) / (1 + self.answer_weight)
