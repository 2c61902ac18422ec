"""Which known questions a message asks, ranked, with a score per answer: by meaning (sentence
embeddings, `avatar.inference.sentence`) and, optionally, by words (TF-IDF, scikit-learn).

Meaning: the message's vector against every phrasing of a question and against its answer
(people ask with the answer's words: "Do you take PayPal?"; a team writes few phrasings, and
its answers say much of what customers mean). An entry scores the cosine similarity of its
best phrasing plus `answer_weight` x its answer's, over (1 + answer_weight): about 0.15 for an
unrelated question, 0.5-0.8 for a paraphrase. Nothing in here knows any domain's words: the
model learned English from general text, and a team's own questions and answers are all it is
given (bench/chat.py measures it on FAQs of other domains, held out from tuning).

Words: cosine similarity of TF-IDF vectors of word 1-2 grams and character 2-5 grams (within
words, so "opening" meets "open") of every phrasing and answer, in [0, 1]; on its own it is the
lexical matcher bench/chat.py compares with, and `words_weight` mixes it into meaning.

Texts are lower-cased with punctuation dropped for the word view and for exact matches; the
embedding model sees them as typed.
"""

from __future__ import annotations

import re

import numpy as np

_WORD = re.compile(r"[a-z0-9]+")
# Contractions spelled out, with or without their apostrophe ("wheres" is how phones type it).
_CONTRACTIONS = {"cant": "can not", "cannot": "can not", "wont": "will not", "shant": "shall not", "im": "i am",
                 "ive": "i have", "id": "i would", "ill": "i will", "youre": "you are", "theyre": "they are",
                 "whats": "what is", "wheres": "where is", "hows": "how is", "whos": "who is", "whens": "when is",
                 "thats": "that is", "theres": "there is", "heres": "here is", "its": "it is", "lets": "let us"}
_NEGATED = ("dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "hasnt", "havent", "hadnt",
            "couldnt", "shouldnt", "wouldnt", "mustnt", "neednt")
_NOT = re.compile(r"(?<=[a-z])n'?t\b")  # "doesn't", "doesnt" -> "does not" (after the table: "cant")

ANSWER_WEIGHT = 1.0  # chosen on the dev sets (bench/chat.py)


def normalise(text: str) -> str:
    """Lower case, contractions spelled out, punctuation as spaces: "Where's it?" -> "where is it"."""
    words = _WORD.findall(str(text).lower().replace("'", "").replace("\u2019", ""))
    spelled = [_CONTRACTIONS.get(w) or (_NOT.sub(" not", w) if w.endswith(_NEGATED) else w) for w in words]
    return " ".join(spelled)


class _Words:
    """TF-IDF of word 1-2 grams and character 2-5 grams of normalised texts, side by side, rows
    of unit length."""

    def __init__(self, texts: list[str]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizers = [
            TfidfVectorizer(preprocessor=normalise, ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(preprocessor=normalise, analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)]
        for vectorizer in self.vectorizers:
            vectorizer.fit(texts)

    def __call__(self, texts: list[str]):
        from scipy.sparse import hstack
        from sklearn.preprocessing import normalize

        return normalize(hstack([v.transform(texts) for v in self.vectorizers]).tocsr())


class Matcher:
    """Ranks the entries of a corpus for a message; thread-safe after construction.

    entries: (phrasings of a question, answer) per entry. encoder: a
    `avatar.inference.sentence.SentenceEncoder` (None: words only); cache: a `VectorCache` for
    the corpus's vectors (None: embed them now). words_weight: share of the word view added to
    meaning (ignored without an encoder). answer_weight: share of the answer beside the best
    phrasing.
    """

    def __init__(self, entries: list[tuple[tuple[str, ...], str]], encoder=None, cache=None,
                 words_weight: float = 0.0, answer_weight: float = ANSWER_WEIGHT):
        if not entries:
            raise ValueError("a matcher needs at least one entry")
        phrasings = [q for questions, _ in entries for q in questions]
        answers = [answer for _, answer in entries]
        self.size = len(entries)
        self._entry_of = np.array([i for i, (questions, _) in enumerate(entries) for _ in questions])
        self._exact: dict[str, int] = {}
        for i, (questions, _) in enumerate(entries):
            for question in questions:
                self._exact.setdefault(normalise(question), i)
        self.encoder, self.answer_weight = encoder, answer_weight
        self.words_weight = words_weight if encoder is not None else 1.0
        if encoder is not None:
            vectors = cache.encode(encoder, phrasings + answers) if cache else encoder.encode(phrasings + answers)
            self._meaning_q, self._meaning_a = vectors[:len(phrasings)], vectors[len(phrasings):]
        if self.words_weight:
            self._words = _Words(phrasings + answers)
            self._words_q, self._words_a = self._words(phrasings), self._words(answers)

    def exact(self, message: str) -> int | None:
        """The entry one of whose phrasings the message is (ignoring case and punctuation), else None."""
        return self._exact.get(normalise(message))

    def scores(self, message: str) -> np.ndarray:
        """Per entry (float64, (entries,)): meaning, plus words x words_weight, over (1 + words_weight);
        words alone without an encoder."""
        if self.encoder is None:
            return self._combine(*self._word_sims(message))
        query = self.encoder.encode([message])[0]
        meaning = self._combine(self._meaning_q @ query, self._meaning_a @ query)
        if not self.words_weight:
            return meaning
        return (meaning + self.words_weight * self._combine(*self._word_sims(message))) / (1 + self.words_weight)

    def ranked(self, message: str, count: int = 3) -> list[tuple[int, float]]:
        """The `count` best (entry index, score), best first."""
        scores = self.scores(message)
        best = np.argsort(-scores, kind="stable")[:count]
        return [(int(i), float(scores[i])) for i in best]

    def _word_sims(self, message: str) -> tuple[np.ndarray, np.ndarray]:
        query = self._words([message]).T
        return (self._words_q @ query).toarray().ravel(), (self._words_a @ query).toarray().ravel()

    def _combine(self, by_phrasing: np.ndarray, by_answer: np.ndarray) -> np.ndarray:
        """Per entry: its best phrasing's similarity plus answer_weight x its answer's, / (1 + weight)."""
        per_entry = np.full(self.size, -1.0)
        np.maximum.at(per_entry, self._entry_of, by_phrasing)
        return (per_entry + self.answer_weight * by_answer) / (1 + self.answer_weight)
