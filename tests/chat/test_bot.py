import hashlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from avatar.chat import FALLBACK, GREETING, Chatbot, train_corpus
from avatar.errors import UserError


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("chat") / "english.sqlite3"
    assert train_corpus(f"sqlite:///{path}") > 4000
    return path


@pytest.fixture(scope="module")
def bot(db):
    return Chatbot(f"sqlite:///{db}")


STUDY = {  # the study's dialogue and the corpus answers it reported
    "Do you know gossip?": "Gregory said I respond to the current line",
    "What is AI?": "Artificial Intelligence is the branch of engineering and science",
    "What is a super computer?": "are called super computers",
    "How does a computer work?": "Computers are very dumb",
    "What was the first computer?": "ENIAC",
}


@pytest.mark.parametrize("question", STUDY)
def test_study_dialogue_answers(bot, question):
    reply = bot.reply(question)
    assert STUDY[question] in reply.text and reply.confidence == 1.0


def test_close_wording_still_matches_and_nonsense_gets_the_fallback(bot):
    assert "ENIAC" in bot.reply("what was the frist computer").text
    for nonsense in ("", "   ", "qwxz vbnm plok", "🙂🙂🙂"):
        reply = bot.reply(nonsense)
        assert reply.text == FALLBACK and reply.kind == "fallback" and reply.matched is None


def test_the_bot_says_it_is_an_ai(bot):
    assert "AI" in GREETING and "not a real person" in GREETING
    assert "AI" in FALLBACK
    assert bot.reply("Are you a robot?").text.lower().startswith("yes")


def test_nothing_users_type_is_learned(db):
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    bot = Chatbot(f"sqlite:///{db}")
    teaching, probe = "My favourite colour is ultraviolet", "What is my favourite colour?"
    untaught = bot.reply(probe).text
    for _ in range(3):
        bot.reply(teaching)
        assert bot.reply(probe).text == untaught and "ultraviolet" not in untaught
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert Chatbot(f"sqlite:///{db}").reply(probe).text == untaught


def test_many_threads_at_once(bot):
    questions = list(STUDY) * 40
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda q: (q, bot.reply(q).text), questions))
    assert all(STUDY[q] in text for q, text in replies)


def test_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="avatar chat train"):
        Chatbot(f"sqlite:///{tmp_path / 'none.sqlite3'}")


def test_cli_ask(db):
    result = subprocess.run([sys.executable, "-m", "avatar", "chat", "ask", "What is AI?", "--db", f"sqlite:///{db}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("Artificial Intelligence")
