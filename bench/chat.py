"""Benchmark how well chat replies match a team's FAQ, and how fast; prints JSON.

    python bench/chat.py [--misses] [--tune] [--skip-chatterbot]

1. Accuracy on FAQs of four domains, each with a team's questions and answers and a labelled
   set of questions customers would type (paraphrases, each with the FAQ question it asks, and
   off-topic questions, expected empty). Dev sets tune the matchers and their policies:
   `bench/chat/demo-shop-dev.csv` (the demo FAQ, assets/chat/demo-shop.csv), `hotel-dev.csv`,
   `software-dev.csv`. Held-out sets never tune anything (they were written, by someone who did
   not see the matcher, before any tuning): `demo-shop-heldout.csv`, `mobile-network-heldout.csv`,
   `bike-shop-heldout.csv`; only their totals are printed.
   Per set and matcher: top1 (the right answer ranked first), answered_and_right, wrong (a
   confident wrong answer), asked_with_right (asked back, the right question among the
   suggestions), off_topic_fallback (off-topic questions given the fallback), off_topic_asked,
   and reply_p95_ms. Matchers: "words" (TF-IDF), "meaning" (sentence embeddings, the app's
   default), "both" (`avatar.chat.match`), each with its policy (`avatar.chat.bot.POLICIES`);
   and ChatterBot's default (BestMatch with Levenshtein comparison, trained on the same FAQ with
   its ListTrainer), whose confidence is held to the threshold that best separates the dev sets.
2. Reply latency with a 2,000-pair corpus (question/answer pairs from the chatterbot-corpus
   English conversations, repeated with numbered variants to reach 2,000): load time (vectors
   computed, then read from the cache), p50/p95 over 300 questions (half known phrasings, half
   with a word dropped), and how much the first load grew the process (resident memory: the
   encoder, its dequantised weights made, the corpus's vectors and word index; onnxruntime, onnx
   and scikit-learn, which the app imported before, are imported first and not counted).

--tune searches each matcher's policy on the dev sets and prints the best (never the held-out).
--misses prints the dev sets' misses.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from avatar.chat.bot import MATCHERS, POLICIES, Chatbot, Policy, chatterbot_engine, store_corpus
from avatar.chat.corpus import Corpus, Pair, read_corpus

HERE = Path(__file__).resolve().parent
DEMO_FAQ = HERE.parent / "assets/chat/demo-shop.csv"
DOMAINS = {"demo-shop": DEMO_FAQ, "hotel": HERE / "chat/hotel.csv", "software": HERE / "chat/software.csv",
           "mobile-network": HERE / "chat/mobile-network.csv", "bike-shop": HERE / "chat/bike-shop.csv"}
DEV = {"demo-shop": HERE / "chat/demo-shop-dev.csv", "hotel": HERE / "chat/hotel-dev.csv",
       "software": HERE / "chat/software-dev.csv"}
HELDOUT = {"demo-shop": HERE / "chat/demo-shop-heldout.csv",
           "mobile-network": HERE / "chat/mobile-network-heldout.csv",
           "bike-shop": HERE / "chat/bike-shop-heldout.csv"}


def labelled(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """(paraphrase, expected first phrasing) rows and off-topic questions (empty expected)."""
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    return ([(r["paraphrase"], r["expected"]) for r in rows if r["expected"]],
            [r["paraphrase"] for r in rows if not r["expected"]])


def load_bot(domain: str, folder: Path, matcher: str) -> Chatbot:
    db_url = f"sqlite:///{folder / (domain + '.sqlite3')}"
    if not (folder / (domain + ".sqlite3")).exists():
        store_corpus(db_url, read_corpus([DOMAINS[domain]]), domain)
    return Chatbot(db_url, corpus=domain, matcher=matcher)


def ranked_set(bot: Chatbot, path: Path) -> dict:
    """The bot's ranking of every question of a labelled set, timed."""
    known, off_topic = labelled(path)
    ms, ranked = [], []
    for message, _ in known + [(m, "") for m in off_topic]:
        started = time.perf_counter()
        ranked.append(bot.ranked(message))
        ms.append(1000 * (time.perf_counter() - started))
    return {"known": known, "off_topic": off_topic, "ranked": ranked, "ms": ms}


def score(bot: Chatbot, run: dict, policy: Policy | None = None, misses: list[str] | None = None) -> dict:
    """Accuracy figures of one set's rankings under `policy` (default: the bot's)."""
    first = {questions[0] for questions, _ in bot.entries}
    counts = dict.fromkeys(["top1", "answered_and_right", "wrong", "asked_with_right", "off_topic_fallback",
                            "off_topic_asked"], 0)
    messages = run["known"] + [(m, "") for m in run["off_topic"]]
    for (message, expected), ranked in zip(messages, run["ranked"]):
        reply = bot.decide(ranked, policy)
        if expected:
            assert expected in first, f"{expected!r} is not a question of the FAQ"
            counts["top1"] += bot.entries[ranked[0][0]][0][0] == expected
            counts["answered_and_right"] += reply.matched == expected
            counts["wrong"] += reply.kind == "answer" and reply.matched != expected
            counts["asked_with_right"] += reply.kind == "clarify" and expected in reply.suggestions
            if misses is not None and reply.matched != expected:
                misses.append(f"{message!r} -> {expected!r}: {reply.kind} ({reply.confidence:.2f}) "
                              f"{reply.matched or reply.suggestions}")
        else:
            counts["off_topic_fallback"] += reply.kind == "fallback"
            counts["off_topic_asked"] += reply.kind == "clarify"
            if misses is not None and reply.kind != "fallback":
                misses.append(f"off-topic {message!r}: {reply.kind} ({reply.confidence:.2f}) "
                              f"{reply.matched or reply.suggestions}")
    n, k = len(run["known"]), len(run["off_topic"])
    out = {"questions": n, "off_topic": k}
    out.update({name: round(value / (n if not name.startswith("off_topic") else k), 3)
                for name, value in counts.items()})
    out["reply_p95_ms"] = round(float(np.percentile(run["ms"], 95)), 2)
    return out


def total(results: list[dict]) -> dict:
    """Figures over several sets, weighted by their questions."""
    n = sum(r["questions"] for r in results)
    k = sum(r["off_topic"] for r in results)
    out = {"questions": n, "off_topic": k}
    for name in results[0]:
        if name in ("questions", "off_topic", "reply_p95_ms"):
            continue
        weight = "off_topic" if name.startswith("off_topic") else "questions"
        out[name] = round(sum(r[name] * r[weight] for r in results) / sum(r[weight] for r in results), 3)
    out["reply_p95_ms"] = max(r["reply_p95_ms"] for r in results)
    return out


def tune(bots: dict, runs: dict) -> dict:
    """Per matcher, the policy that maximises answered-and-right + off-topic fallback + half the
    right questions asked back - twice the confident wrong answers, averaged over the dev sets."""
    best = {}
    for matcher in MATCHERS:
        def objective(policy):
            scores = [score(bots[matcher, d], runs[matcher, d], policy) for d in DEV]
            return np.mean([s["answered_and_right"] + s["off_topic_fallback"] + 0.5 * s["asked_with_right"]
                            - 2 * s["wrong"] for s in scores])
        grid = [Policy(answer=a, margin=m, sure=s, ask=q)
                for a, m, s, q in itertools.product(np.arange(0.2, 0.56, 0.02), (0.0, 0.02, 0.04, 0.06, 0.08),
                                                    (0.6, 0.7, 0.8), np.arange(0.16, 0.5, 0.02)) if q <= a]
        chosen = max(grid, key=objective)
        best[matcher] = {k: round(float(v), 3) for k, v in asdict(chosen).items()} | {
            "objective": round(float(objective(chosen)), 3)}
    return best


def chatterbots(corpus: Corpus, folder: Path):
    """ChatterBot's default BestMatch trained on `corpus` with its ListTrainer: message -> (text, confidence)."""
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


def chatterbot_runs(domains: dict, folder: Path) -> dict:
    """Per domain and set: (right or not, confidence) of each known question, confidences of the off-topic."""
    out = {}
    for domain, path in domains.items():
        corpus = read_corpus([DOMAINS[domain]])
        answer_of = {pair.questions[0]: pair.answer for pair in corpus.pairs}
        sub = folder / f"chatterbot-{domain}"
        sub.mkdir(parents=True)
        ask = chatterbots(corpus, sub)
        known, off_topic = labelled(path)
        ms = []

        def timed(message):
            started = time.perf_counter()
            text, confidence = ask(message)
            ms.append(1000 * (time.perf_counter() - started))
            return text, confidence
        right = [(text == answer_of[e], c) for (text, c), (_, e) in zip(map(timed, [m for m, _ in known]), known)]
        out[domain] = (right, [timed(m)[1] for m in off_topic], ms)
    return out


def chatterbot_score(run, threshold: float) -> dict:
    known, off, ms = run
    return {"questions": len(known), "off_topic": len(off), "top1": round(float(np.mean([r for r, _ in known])), 3),
            "answered_and_right": round(float(np.mean([r and c >= threshold for r, c in known])), 3),
            "wrong": round(float(np.mean([not r and c >= threshold for r, c in known])), 3),
            "off_topic_fallback": round(float(np.mean([c < threshold for c in off])), 3),
            "reply_p95_ms": round(float(np.percentile(ms, 95)), 2)}


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


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def latency(folder: Path) -> dict:
    corpus = english_pairs(2000)
    db_url = f"sqlite:///{folder / 'latency.sqlite3'}"
    store_corpus(db_url, corpus, "english-2000")
    import onnx  # noqa: F401  what the app imported before matching by meaning: not counted
    import onnxruntime  # noqa: F401
    import sklearn.feature_extraction.text  # noqa: F401

    before = resident_mb()
    loads = []
    for _ in range(2):  # the first computes the vectors, the second reads them from the cache
        start = time.perf_counter()
        bot = Chatbot(db_url, corpus="english-2000")
        loads.append(round(time.perf_counter() - start, 2))
        if len(loads) == 1:
            grown = resident_mb() - before
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
    return {"pairs": len(corpus.pairs), "entries": len(bot.entries), "load_s_first": loads[0],
            "load_s_cached": loads[1], "replies": len(times), "p50_ms": round(float(np.percentile(times, 50)), 2),
            "p95_ms": round(float(np.percentile(times, 95)), 2),
            "memory_growth_mb": round(grown, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="print the dev sets' misses (never the held-out's)")
    parser.add_argument("--tune", action="store_true", help="search each matcher's policy on the dev sets")
    parser.add_argument("--skip-chatterbot", action="store_true")
    args = parser.parse_args()
    report: dict = {"bench": "chat", "policies": {m: asdict(p) for m, p in POLICIES.items()}}
    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ.setdefault("AVATAR_CACHE", str(Path(tmp) / "cache"))  # vectors computed afresh
        folder = Path(tmp)
        if not args.tune:  # first, so the memory it reports is the encoder's and the corpus's
            report["latency_2000_pairs"] = latency(folder)
        bots = {(m, d): load_bot(d, folder, m) for m in MATCHERS for d in DOMAINS}
        dev_runs = {(m, d): ranked_set(bots[m, d], path) for m in MATCHERS for d, path in DEV.items()}
        if args.tune:
            print(json.dumps({"tuned_on_dev": tune(bots, dev_runs)}, indent=1))
            return
        for name, sets in (("dev", DEV), ("heldout", HELDOUT)):
            report[name] = {}
            for matcher in MATCHERS:
                results = {}
                for domain, path in sets.items():
                    run = dev_runs[matcher, domain] if name == "dev" else ranked_set(bots[matcher, domain], path)
                    misses = [] if args.misses and name == "dev" and matcher == "meaning" else None
                    results[domain] = score(bots[matcher, domain], run, misses=misses)
                    if misses:
                        print(f"# {domain} ({matcher})\n" + "\n".join(misses))
                report[name][matcher] = {"all": total(list(results.values())), **results}
        if not args.skip_chatterbot:
            dev = chatterbot_runs(DEV, folder / "dev")
            known = [x for k, _, _ in dev.values() for x in k]
            off = [c for _, o, _ in dev.values() for c in o]
            threshold = max(sorted({round(c, 3) for _, c in known} | {round(c + 1e-3, 3) for c in off}),
                            key=lambda t: np.mean([r and c >= t for r, c in known]) + np.mean([c < t for c in off]))
            held = chatterbot_runs(HELDOUT, folder / "heldout")
            for name, runs in (("dev", dev), ("heldout", held)):
                results = {d: chatterbot_score(run, threshold) for d, run in runs.items()}
                report[name]["chatterbot_bestmatch"] = {"threshold": threshold, "all": total(list(results.values())),
                                                        **results}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
