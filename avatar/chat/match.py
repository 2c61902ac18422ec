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

Both views also see concepts: words customers use for the same thing ("parcel", "package",
"order") are grouped in `assets/chat/synonyms.txt`, and a text containing any of them gains a
token for the group, so "Where's my parcel?" meets "Where is my order?" although they share
no word but "my".

Texts are lower-cased with punctuation dropped; scikit-learn is imported only here.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np

_WORD = re.compile(r"[a-z0-9]+")
# Kept although common: they change what is asked ("not arrived", "back in stock", "next day").
_MEANINGFUL = {"not", "no", "never", "cannot", "back", "next", "call", "find", "get", "give", "put", "show",
               "move", "over", "off", "out", "up", "down", "less", "more", "first", "last", "take"}


# Contractions spelled out, with or without their apostrophe ("wheres" is how phones type it).
_CONTRACTIONS = {"cant": "can not", "cannot": "can not", "wont": "will not", "shant": "shall not", "im": "i am",
                 "ive": "i have", "id": "i would", "ill": "i will", "youre": "you are", "theyre": "they are",
                 "whats": "what is", "wheres": "where is", "hows": "how is", "whos": "who is", "whens": "when is",
                 "thats": "that is", "theres": "there is", "heres": "here is", "its": "it is", "lets": "let us"}
_NOT = re.compile(r"(?<=[a-z])n'?t\b")  # "doesn't", "doesnt" -> "does not" (after the table: "cant")


def normalise(text: str) -> str:
    """Lower case, contractions spelled out, punctuation as spaces: "Where's it?" -> "where is it"."""
    words = _WORD.findall(str(text).lower().replace("'", "").replace("\u2019", ""))
    spelled = [_CONTRACTIONS.get(w) or (_NOT.sub(" not", w) if w.endswith(_NEGATED) else w) for w in words]
    return " ".join(spelled)


_NEGATED = ("dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "hasnt", "havent", "hadnt",
            "couldnt", "shouldnt", "wouldnt", "mustnt", "neednt")


SYNONYMS = Path(__file__).resolve().parents[2] / "assets/chat/synonyms.txt"
_LONGEST_PHRASE = 6  # words


@functools.cache
def _groups(path: Path = SYNONYMS) -> dict[tuple[str, ...], str]:
    """{phrase as a word tuple: concept token} from a synonyms file ("concept: a, b c, ...")."""
    groups = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        concept, _, members = line.partition(":")
        for member in members.split(","):
            words = tuple(normalise(member).split())
            if words:
                groups[words[:_LONGEST_PHRASE]] = "c_" + normalise(concept).replace(" ", "_")
    return groups


def _concept_spans(words: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, concept token) of the phrases found in normalised words, longest phrase
    first, left to right; words inside a found phrase do not count again on their own
    ("close my account" is not "close")."""
    groups, found, i = _groups(), [], 0
    while i < len(words):
        for length in range(min(_LONGEST_PHRASE, len(words) - i), 0, -1):
            concept = groups.get(tuple(words[i:i + length]))
            if concept:
                found.append((i, i + length, concept))
                i += length
                break
        else:
            i += 1
    return found


def concepts(words: list[str]) -> list[str]:
    """The concept tokens of normalised words (see `_concept_spans`)."""
    return [concept for _, _, concept in _concept_spans(words)]


def _concept_text(text: str) -> str:
    return " ".join(concepts(normalise(text).split()))


def _is_content(word: str) -> bool:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return word not in ENGLISH_STOP_WORDS or word in _MEANINGFUL


def _content(text: str) -> str:
    return " ".join(w for w in normalise(text).split() if _is_content(w))


class _View:
    """TF-IDF blocks of a text, side by side, rows normalised to unit length: word 1-2 grams (or
    1 grams) and character 2-5 grams of `prepare`d text, and its concepts x `concept_weight`."""

    def __init__(self, prepare, texts: list[str], word_ngrams: tuple[int, int], concept_weight: float):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.blocks = [
            (TfidfVectorizer(preprocessor=prepare, ngram_range=word_ngrams, sublinear_tf=True), 1.0),
            (TfidfVectorizer(preprocessor=prepare, analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True), 1.0)]
        if any(concepts(normalise(t).split()) for t in texts):  # else an empty vocabulary
            self.blocks.append((TfidfVectorizer(preprocessor=_concept_text, token_pattern=r"\S+", sublinear_tf=True),
                                concept_weight))
        for vectorizer, _ in self.blocks:
            vectorizer.fit(texts)

    def __call__(self, texts: list[str]):
        from scipy.sparse import hstack
        from sklearn.preprocessing import normalize

        return normalize(hstack([weight * v.transform(texts) for v, weight in self.blocks]).tocsr())


class Matcher:
    """Ranks the entries of a corpus for a message.

    entries: (phrasings of a question, answer) per entry. answer_weight: share of the answer's
    similarity added to the best phrasing's (0..1). concept_weight: weight of the concept
    tokens beside words and spelling. Thread-safe after construction.

    Confidence is the topic similarity times the square of the share of the message's content
    words that the corpus knows (used in it, or in a concept): "Who invented the telephone?"
    shares "telephone" with "What is your phone number?", but "invented" is about something
    else. (The square was chosen on the dev set, bench/chat.py.)
    """

    def __init__(self, entries: list[tuple[tuple[str, ...], str]], answer_weight: float = 0.5,
                 concept_weight: float = 0.7):
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
        self._rank = _View(normalise, phrasings + answers, (1, 2), concept_weight)
        self._topic = _View(_content, phrasings + answers, (1, 1), concept_weight)
        self._rank_q, self._rank_a = self._rank(phrasings), self._rank(answers)
        self._topic_q, self._topic_a = self._topic(phrasings), self._topic(answers)
        self._known = {w for text in phrasings + answers for w in _content(text).split()}
        self.size = len(entries)

    def known_share(self, message: str) -> float:
        """Share (0..1) of the message's content words that the corpus uses or a concept covers;
        1 when it has none."""
        words = normalise(message).split()
        covered = {k for start, end, _ in _concept_spans(words) for k in range(start, end)}
        content = [k for k, w in enumerate(words) if _is_content(w)]
        if not content:
            return 1.0
        return sum(k in covered or words[k] in self._known for k in content) / len(content)

    def best(self, message: str) -> tuple[int, float]:
        """(entry index, confidence 0..1) of the best match; confidence 1 for a known phrasing
        (ignoring case and punctuation)."""
        exact = self._exact.get(normalise(message))
        if exact is not None:
            return exact, 1.0
        ranked = self._scores(message, self._rank, self._rank_q, self._rank_a)
        best = int(ranked.argmax())
        topic = self._scores(message, self._topic, self._topic_q, self._topic_a)
        return best, float(np.clip(topic[best] * self.known_share(message) ** 2, 0.0, 1.0))

    def _scores(self, message: str, view: _View, questions, answers) -> np.ndarray:
        """Per entry: best phrasing's cosine similarity plus answer_weight x the answer's, / (1 + weight)."""
        query = view([message]).T
        by_phrasing = (questions @ query).toarray().ravel()
        per_entry = np.zeros(self.size)
        np.maximum.at(per_entry, self._entry_of, by_phrasing)
        return (per_entry + self.answer_weight * (answers @ query).toarray().ravel()) / (1 + self.answer_weight)
