"""Benchmark how well chat replies match, and how fast; prints JSON.

    python bench/chat.py [--misses dev] [--skip-chatterbot]

1. Accuracy on the demo FAQ (assets/chat/demo-shop.csv), on two hand-written sets of
   paraphrases and off-topic questions: `bench/chat/demo-shop-dev.csv` (used to tune the
   matcher and its threshold) and `bench/chat/demo-shop-heldout.csv` (never used for tuning;
   only its totals are printed). For each: top-1 (the right answer ranked first), answered
   and right (ranked first and above the confidence threshold), and off-topic questions
   given the fallback. Ours is `avatar.chat.Chatbot` as the app uses it; beside it
   ChatterBot's default (BestMatch with Levenshtein comparison, trained on the same corpus
   with its ListTrainer), whose own confidence is held to the threshold that best
   separates the dev set, so its fallback is judged fairly.
2. Reply latency with a 2,000-pair corpus (question/answer pairs taken in order from the
   chatterbot-corpus English conversations, repeated with numbered variants to reach 2,000):
   p50/p95 over 300 questions, half known phrasings, half with a word dropped.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from avatar.chat.bot import THRESHOLD, Chatbot, chatterbot_engine, store_corpus
from avatar.chat.corpus import Corpus, Pair, read_corpus

HERE = Path(__file__).resolve().parent
FAQ = HERE.parent / "assets/chat/demo-shop.csv"
SETS = {"dev": HERE / "chat/demo-shop-dev.csv", "heldout": HERE / "chat/demo-shop-heldout.csv"}


def labelled(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """(paraphrase, expected first phrasing) rows and off-topic questions (empty expected)."""
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    return ([(r["paraphrase"], r["expected"]) for r in rows if r["expected"]],
            [r["paraphrase"] for r in rows if not r["expected"]])


def ours(db_url: str, version: str):
    """message -> (answer text ranked first, confidence)."""
    bot = Chatbot(db_url, corpus=version)
    answer_of = {questions[0]: answer for questions, answer in bot.entries}

    def ask(message: str) -> tuple[str, float]:
        index, confidence = bot._matcher.best(message)
        return bot.entries[index][1], confidence
    return ask, answer_of


def chatterbots(corpus: Corpus, folder: Path):
    """ChatterBot's default BestMatch trained on `corpus` with its ListTrainer."""
    from chatterbot.trainers import ListTrainer

    db_url = f"sqlite:///{folder / 'chatterbot.sqlite3'}"
    trainer = ListTrainer(chatterbot_engine(db_url, read_only=False), show_training_progress=False)
    for pair in corpus.pairs:
        for question in pair.questions:
            trainer.train([question, pair.answer])
    engine = chatterbot_engine(db_url, read_only=True)

    def ask(message: str) -> tuple[str, float]:
        response = engine.get_response(message)
        return response.text, float(response.confidence)
    return ask


def score(ask, answer_of: dict[str, str], known: list[tuple[str, str]], off_topic: list[str],
          threshold: float) -> tuple[dict, list[str]]:
    """Accuracy figures and the misses (as 'message -> expected / got' lines)."""
    top1 = answered = 0
    misses = []
    for message, expected in known:
        text, confidence = ask(message)
        right = text == answer_of[expected]
        top1 += right
        answered += right and confidence >= threshold
        if not (right and confidence >= threshold):
            misses.append(f"{message!r} -> {expected!r}: {'right but unsure' if right else 'wrong'} "
                          f"({confidence:.2f}) {text[:60]!r}")
    fallback = 0
    for message in off_topic:
        text, confidence = ask(message)
        fallback += confidence < threshold
        if confidence >= threshold:
            misses.append(f"off-topic {message!r} answered ({confidence:.2f}) {text[:60]!r}")
    return {"questions": len(known), "top1": round(top1 / len(known), 3),
            "answered_and_right": round(answered / len(known), 3),
            "off_topic": len(off_topic), "off_topic_fallback": round(fallback / len(off_topic), 3)}, misses


def best_threshold(ask, answer_of, known, off_topic) -> float:
    """The confidence threshold maximising (answered and right + off-topic fallback) on a set."""
    known_scores = [(ask(m)[0] == answer_of[e], ask(m)[1]) for m, e in known]
    off_scores = [ask(m)[1] for m in off_topic]
    candidates = sorted({round(c, 3) for _, c in known_scores} | {round(c + 1e-3, 3) for c in off_scores})

    def objective(t):
        return (np.mean([r and c >= t for r, c in known_scores]) + np.mean([c < t for c in off_scores]))
    return max(candidates, key=objective)


def english_pairs(count: int) -> Corpus:
    """`count` question/answer pairs from the chatterbot-corpus English conversations."""
    import chatterbot_corpus
    import yaml

    pairs = []
    for path in sorted(Path(chatterbot_corpus.__file__).parent.glob("data/english/*.yml")):
        for conversation in yaml.safe_load(path.read_text()).get("conversations", []):
            for question, answer in zip(conversation, conversation[1:]):
                if isinstance(question, str) and isinstance(answer, str) and question.strip() and answer.strip():
                    pairs.append((question, answer))
    out, round_ = [], 0
    while len(out) < count:
        for question, answer in pairs[: count - len(out)]:
            suffix = f" (variant {round_})" if round_ else ""
            out.append(Pair((question + suffix,), answer + suffix, len(out) + 1))
        round_ += 1
    return Corpus("english-2000", tuple(out), ("chatterbot-corpus",), "none")


def latency(folder: Path) -> dict:
    corpus = english_pairs(2000)
    db_url = f"sqlite:///{folder / 'latency.sqlite3'}"
    store_corpus(db_url, corpus, "english-2000")
    start = time.perf_counter()
    bot = Chatbot(db_url, corpus="english-2000")
    load_s = time.perf_counter() - start
    rng = np.random.default_rng(0)
    picks = rng.choice(len(corpus.pairs), 300, replace=False)
    messages = []
    for k, i in enumerate(picks):
        words = corpus.pairs[i].questions[0].split()
        if k % 2 and len(words) > 1:
            del words[int(rng.integers(len(words)))]
        messages.append(" ".join(words))
    times = []
    for message in messages:
        t = time.perf_counter()
        bot.reply(message)
        times.append(1000 * (time.perf_counter() - t))
    return {"pairs": len(corpus.pairs), "entries": len(bot.entries), "load_s": round(load_s, 2),
            "replies": len(times), "p50_ms": round(float(np.percentile(times, 50)), 2),
            "p95_ms": round(float(np.percentile(times, 95)), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", choices=["dev"], help="print the dev set's misses (never the held-out set's)")
    parser.add_argument("--skip-chatterbot", action="store_true")
    args = parser.parse_args()
    corpus = read_corpus([FAQ])
    report = {"bench": "chat", "corpus": FAQ.name, "answers": len(corpus.pairs), "threshold": THRESHOLD}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db_url = f"sqlite:///{folder / 'ours.sqlite3'}"
        store_corpus(db_url, corpus, "faq")
        ask, answer_of = ours(db_url, "faq")
        theirs = None if args.skip_chatterbot else chatterbots(corpus, folder)
        their_threshold = None if theirs is None else best_threshold(theirs, answer_of, *labelled(SETS["dev"]))
        for name, path in SETS.items():
            known, off_topic = labelled(path)
            report[name], misses = score(ask, answer_of, known, off_topic, THRESHOLD)
            if args.misses == name:
                print("\n".join(misses))
            if theirs is not None:
                report[name]["chatterbot_bestmatch"], _ = score(theirs, answer_of, known, off_topic, their_threshold)
                report[name]["chatterbot_bestmatch"]["threshold"] = their_threshold
        report["latency_2000_pairs"] = latency(folder)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
