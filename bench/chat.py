"""Benchmark chat replies over the English corpus questions; prints JSON.

    python bench/chat.py [--chatterbot-sample 300]

Times `avatar.chat.Chatbot.reply` on every question that opens a corpus conversation (as
written, and with a typo), and
ChatterBot's own `get_response` (read-only, LowercaseTagger, BestMatch) on an evenly spaced
sample of them, against the same trained database; reports p50/p95 latency of each and how
often the two give the same answer.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from avatar.chat import Chatbot, default_db_url
from avatar.chat.bot import chatterbot_engine


def corpus_questions() -> list[str]:
    import chatterbot_corpus
    import yaml

    questions = []
    for path in sorted(Path(chatterbot_corpus.__file__).parent.glob("data/english/*.yml")):
        for conversation in yaml.safe_load(path.read_text()).get("conversations", []):
            if conversation:
                questions.append(str(conversation[0]))
    return questions


def with_typo(question: str) -> str:
    """The question with its longest word missing its second letter (an unseen input)."""
    words = question.split()
    i = max(range(len(words)), key=lambda k: len(words[k]))
    words[i] = words[i][:1] + words[i][2:]
    return " ".join(words)


def timed(fn, items):
    answers, times = [], []
    for item in items:
        start = time.perf_counter()
        answers.append(fn(item))
        times.append(1000 * (time.perf_counter() - start))
    return answers, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chatterbot-sample", type=int, default=300)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    questions = corpus_questions()
    bot = Chatbot(args.db)
    ours, our_ms = timed(lambda q: bot.reply(q).text, questions)
    typo_answers, typo_ms = timed(lambda q: bot.reply(q).text, [with_typo(q) for q in questions])
    reference = chatterbot_engine(args.db or default_db_url(), read_only=True)
    sample = sorted(set(np.linspace(0, len(questions) - 1, args.chatterbot_sample).round().astype(int)))
    theirs, their_ms = timed(lambda i: reference.get_response(questions[i]).text, sample)
    agree = np.mean([ours[i] == answer for i, answer in zip(sample, theirs)])
    print(json.dumps({
        "bench": "chat", "statements": reference.storage.count(), "questions": len(questions),
        "p50_ms": round(float(np.percentile(our_ms, 50)), 3), "p95_ms": round(float(np.percentile(our_ms, 95)), 3),
        "with_typo": {"p50_ms": round(float(np.percentile(typo_ms, 50)), 3),
                      "p95_ms": round(float(np.percentile(typo_ms, 95)), 3),
                      "same_answer_as_without": round(float(np.mean([a == b for a, b in zip(ours, typo_answers)])), 3)},
        "chatterbot_get_response": {"questions": len(sample), "p50_ms": round(float(np.percentile(their_ms, 50)), 1),
                                    "p95_ms": round(float(np.percentile(their_ms, 95)), 1)},
        "same_answer_as_chatterbot": round(float(agree), 3),
    }, indent=1))


if __name__ == "__main__":
    main()
