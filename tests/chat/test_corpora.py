"""A team's corpus: files checked with their line numbers, versions, the active one, the fallback,
the operator's list of misses and a miss attached to an answer as a new phrasing."""

from pathlib import Path

import pytest

from avatar.chat import ENGLISH, read_corpus
from avatar.chat.bot import CLARIFY, TEAM_FALLBACK
from avatar.chat.corpora import Corpora, misses_csv
from avatar.errors import UserError
from avatar.store import Store

DEMO = Path(__file__).resolve().parents[2] / "assets" / "chat" / "demo-shop.csv"


def test_the_demo_faq_reads_with_its_phrasings():
    corpus = read_corpus([DEMO])
    assert corpus.name == "demo-shop" and len(corpus.pairs) == 42 and corpus.phrasings > 80
    hours = corpus.pairs[0]
    assert hours.questions[:2] == ("What are your opening hours?", "When are you open?") and hours.line == 2


def test_yaml_and_tsv_corpora_read(tmp_path):
    yml = tmp_path / "faq.yml"
    yml.write_text("categories: [shop]\nconversations:\n- - Do you sell tea?\n  - Yes, green and black.\n")
    tsv = tmp_path / "more.tsv"
    tsv.write_text("Do you sell coffee?|Any coffee?\tOnly beans.\tCoffee available?\n")
    corpus = read_corpus([yml, tsv])
    assert [p.questions for p in corpus.pairs] == [("Do you sell tea?",),
                                                   ("Do you sell coffee?", "Any coffee?", "Coffee available?")]
    assert corpus.pairs[1].answer == "Only beans."


@pytest.mark.parametrize("name, content, message", [
    ("one-column.csv", b"question,answer\nHello,Hi\nOnly a question\n", "one-column.csv line 3: expected a question"),
    ("empty-answer.csv", b"Hello,Hi\nBye,\n", "empty-answer.csv line 2: the answer is empty"),
    ("bad.yml", b"conversations:\n- - a\n  - [b\n", "bad.yml line 4: not valid YAML"),
    ("shape.yml", b"conversations:\n- just text\n", "shape.yml line 2: each conversation is a list"),
    ("latin1.csv", "Hello,Hi\nCaf\u00e9,Open\n".encode("latin-1"), "latin1.csv line 2: not UTF-8"),
    ("binary.csv", b"Hello,Hi\n\x00\x01\x02,x\n", "binary.csv line 2: binary data"),
    ("quote.csv", b'Hello,Hi\n"Open,x\n', "quote.csv line"),
    ("notes.txt", b"Hello,Hi\n", "a corpus is a .csv"),
])
def test_bad_corpus_files_are_refused_with_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserError, match=message.replace("[", r"\[")):
        read_corpus([path])


def test_ten_megabytes_of_junk_is_refused_before_reading(tmp_path):
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"x" * (10 * 1024**2))
    with pytest.raises(UserError, match="junk.csv is 10.0 MB"):
        read_corpus([junk])


@pytest.fixture
def corpora(tmp_path):
    return Corpora(Store(f"sqlite:///{tmp_path / 'state.sqlite3'}").prepare(), f"sqlite:///{tmp_path / 'chat.sqlite3'}")


def test_yaml_aliases_and_deep_nesting_are_refused_in_one_line_before_memory_grows(tmp_path):
    """100 kB of YAML aliases once became 2 million pairs (630 MB); deep nesting a RecursionError."""
    import tracemalloc

    conversation = "&c [" + ", ".join(f"Question or answer number {i}" for i in range(200)) + "]"
    bomb = tmp_path / "aliases.yml"
    bomb.write_text("conversations:\n- " + conversation + "\n" + "- *c\n" * 20_000)
    assert 90_000 < bomb.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(UserError, match=r"aliases.yml line \d+: more than 20,000 questions") as refused:
            read_corpus([bomb])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "\n" not in str(refused.value) and peak < 100 * 1024**2  # the file's own nodes, not the expansion
    deep = tmp_path / "deep.yml"
    deep.write_text("conversations: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(UserError, match="deep.yml line 1: lists or mappings nested more than 8 deep"):
        read_corpus([deep])
    # A few aliases in an ordinary corpus are still read.
    fine = tmp_path / "fine.yml"
    fine.write_text("conversations:\n- &hi\n  - Hello?\n  - Hi there.\n- *hi\n")
    assert len(read_corpus([fine]).pairs) == 2


def test_a_corpus_name_has_a_length_limit_of_its_own(tmp_path):
    with pytest.raises(UserError, match=r"a corpus name is at most 100 characters; this one is 1,048,576\.$"):
        read_corpus([DEMO], name="x" * 1024**2)
    assert read_corpus([DEMO], name="  Spring   FAQ ").name == "Spring FAQ"
    assert read_corpus([DEMO], name="   ").name == "demo-shop"


def test_a_loaded_corpus_answers_paraphrases_and_logs_what_it_cannot(corpora, tmp_path):
    row = corpora.load([DEMO], greeting="Ask me about orders and returns.")
    assert row["active"] and corpora.active() == row["version"]
    assert "9 am to 6 pm" in corpora.reply("When do you open?").text
    money_back = corpora.reply("I'd like my money back")  # answered, or asked back with it to pick
    assert "refund" in money_back.text.lower() or "I want a refund." in money_back.suggestions
    for _ in range(2):
        assert corpora.reply("Who invented the telephone?").text == TEAM_FALLBACK
    assert corpora.reply("=1+1").text == TEAM_FALLBACK
    listed = corpora.unanswered()
    assert [(r["question"], r["count"]) for r in listed] == [("Who invented the telephone?", 2), ("=1+1", 1)]
    text = misses_csv(listed)
    assert text.splitlines()[0] == "kind,question,answer,count,first_asked,last_asked"
    assert "\nunanswered,'=1+1,,1," in text
    assert corpora.greeting().endswith("Ask me about orders and returns.") and "AI" in corpora.greeting()


def test_words_the_faq_never_uses_are_matched_by_meaning(corpora, tmp_path):
    """No word list: "turned up" is not "arrived", "a thief took" is not "stolen", yet they mean it."""
    faq = tmp_path / "faq.csv"
    faq.write_text("question,answer\n"
                   "My parcel has not arrived.,We will trace it with the courier.\n"
                   "My phone was stolen.,Call us to block your SIM at once.\n"
                   "How do I pay my bill?,Pay by card or direct debit in the app.\n"
                   "Where is your shop?,We are at 3 High Street.\n")
    corpora.load([faq])
    assert corpora.reply("it's been a week and my package still hasn't turned up").text.startswith("We will trace")
    assert corpora.reply("a thief took my mobile").text.startswith("Call us to block")
    assert corpora.reply("Who won the football world cup in 1966?").kind == "fallback"


def test_unsure_replies_ask_back_with_the_nearest_questions_and_are_listed(corpora, tmp_path):
    faq = tmp_path / "faq.csv"
    faq.write_text("question,answer\n"
                   "How long does a refund take?,Refunds reach your card within 5 working days.\n"
                   "How do I get a refund?,Start a return from your account to get your money back.\n"
                   "Where is your shop?,We are at 3 High Street.\n")
    corpora.load([faq])
    reply = corpora.reply("refund")
    assert reply.kind == "clarify" and reply.text == CLARIFY and reply.matched is None
    assert set(reply.suggestions) == {"How long does a refund take?", "How do I get a refund?"}
    unsure = [r for r in corpora.misses() if r["kind"] == "unsure"]
    assert [(r["question"], r["count"]) for r in unsure] == [("refund", 1)]


def test_a_miss_becomes_a_new_phrasing_in_one_step(corpora, tmp_path):
    faq = tmp_path / "faq.csv"
    faq.write_text("question,answer\n"
                   "How much is a service?,A full service costs 60 pounds.\n"
                   "How much is a puncture repair?,Fixing a puncture costs 12 pounds.\n"
                   "Where is your shop?,We are at 3 High Street.\n")
    first = corpora.load([faq])
    question = "the thing with the hole in my tyre, what do you charge"
    corpora.reply(question)
    corpora.reply("Who invented the telephone?")
    corpora.not_helpful("what's the cost of fixing a flat", "A full service costs 60 pounds.")
    assert {r["kind"] for r in corpora.misses()} >= {"unhelpful", "unanswered"}
    row = corpora.add_phrasing("what's the cost of fixing a flat", to="How much is a puncture repair?")
    assert row["active"] and row["version"] != first["version"] and row["name"] == first["name"]
    assert row["phrasings"] == first["phrasings"] + 1 and corpora.active() == row["version"]
    assert corpora.reply("What's the cost of fixing a flat?").text == "Fixing a puncture costs 12 pounds."
    left = [r["question"] for r in corpora.misses()]  # the others carried over, the attached one gone
    assert "Who invented the telephone?" in left and "what's the cost of fixing a flat" not in left
    with pytest.raises(UserError, match="already a phrasing"):
        corpora.add_phrasing("What's the cost of fixing a flat", to="How much is a service?")
    with pytest.raises(UserError, match="has no question"):
        corpora.add_phrasing("anything", to="Not a question of it")
    assert [r["version"] for r in corpora.list()][:2] == [row["version"], first["version"]]  # both kept


def test_versions_are_kept_one_is_active_and_english_stays(corpora, tmp_path):
    demo = corpora.load([DEMO])
    again = corpora.load([DEMO])
    assert again["version"] == demo["version"] and len(corpora.list()) == 2  # the same files: the same version
    small = tmp_path / "small.csv"
    small.write_text("Do you sell tea?,Yes: green and black tea.\n")
    other = corpora.load([small], activate=False)
    assert corpora.active() == demo["version"] and "Yes: green" not in corpora.reply("Do you sell tea?").text
    corpora.use(other["version"])
    assert corpora.reply("Do you sell tea?").text == "Yes: green and black tea."
    corpora.use(ENGLISH)
    assert corpora.reply("What is AI?").text.startswith("Artificial Intelligence")
    assert [r["version"] for r in corpora.list()][-1] == ENGLISH
    with pytest.raises(UserError, match="no corpus version"):
        corpora.use("nonexistent")


def test_a_refused_file_changes_nothing(corpora, tmp_path):
    demo = corpora.load([DEMO])
    bad = tmp_path / "bad.csv"
    bad.write_text("Hello,Hi\nBye,\n")
    with pytest.raises(UserError, match="line 2"):
        corpora.load([DEMO, bad])
    assert [r["version"] for r in corpora.list()] == [demo["version"], ENGLISH] and corpora.active() == demo["version"]


def test_the_command_line_asks_back_lists_misses_and_attaches_a_phrasing(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "AVATAR_CACHE": str(tmp_path / "cache"), "AVATAR_DB": f"sqlite:///{tmp_path / 'db.sqlite3'}"}

    def avatar(*args):
        done = subprocess.run([sys.executable, "-m", "avatar", "chat", *args], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout
    faq = tmp_path / "faq.csv"
    faq.write_text("question,answer\n"
                   "How long does a refund take?,Refunds reach your card within 5 working days.\n"
                   "How do I get a refund?,Start a return from your account to get your money back.\n"
                   "Where is your shop?,We are at 3 High Street.\n")
    assert "3 answers" in avatar("train", "--corpus", faq)
    asked = avatar("ask", "refund").splitlines()
    assert asked[0] == CLARIFY
    assert sorted(asked[1:]) == ["  - How do I get a refund?", "  - How long does a refund take?"]
    assert "unsure" in avatar("misses") and "kind,question,answer," in avatar("misses", "--csv")
    assert "4 phrasings" in avatar("attach", "refund", "--to", "How do I get a refund?")
    assert avatar("ask", "Refund!").strip() == "Start a return from your account to get your money back."
    assert avatar("misses").strip() == "nothing missed yet"
