"""The presenter's questions and answers: `avatar chat train|corpora|use|misses|attach|ask`."""

from __future__ import annotations

from pathlib import Path

import click

from avatar.cli.base import main


@main.group()
def chat() -> None:
    """The presenter's chatbot (ChatterBot, English corpus, read-only when serving)."""


@chat.command("train")
@click.option("--corpus", "files", multiple=True, type=click.Path(path_type=Path),
              help="A team's corpus file: CSV/TSV (question, answer[, other phrasings]; '|' separates phrasings) "
              "or chatterbot-corpus YAML; repeat for several files. Without it: the English corpus.")
@click.option("--name", help="The corpus's name [default: the first file's name].")
@click.option("--fallback", help="What the presenter says when no question matches [default: it passes the "
              "question to a colleague].")
@click.option("--greeting", help="The chat's invitation after the AI disclosure [default: 'Ask me your questions.'].")
@click.option("--activate/--no-activate", default=True, show_default=True,
              help="Answer from it at once (every replica, within seconds).")
@click.option("--db", help="With no --corpus: SQLAlchemy URL to train the English corpus into "
              "(default: a SQLite file under ~/.cache/avatar/chat).")
def chat_train(files, name, fallback, greeting, activate, db) -> None:
    """Load a team's question-and-answer corpus as a new version (checked whole first: a
    mistake is refused with its file and line and nothing changes), or train the English corpus."""
    from avatar.chat import default_db_url, train_corpus
    from avatar.chat.corpora import open_corpora

    if not files:
        count = train_corpus(db)
        click.echo(f"{db or default_db_url()}: {count} statements")
        return
    if db:
        raise click.UsageError("--db is for the English corpus; a team's corpus goes into the deployment's "
                               "database (AVATAR_DB).")
    row = open_corpora().load(list(files), name, fallback, greeting, activate=activate)
    click.echo(f"{row['name']}: version {row['version']}, {row['pairs']} answers, {row['phrasings']} phrasings"
               + (" (active)" if row["active"] else ""))


@chat.command("corpora")
def chat_corpora() -> None:
    """List the corpora (newest first), the active one marked with *."""
    from datetime import datetime

    from avatar.chat.corpora import open_corpora

    for row in open_corpora().list():
        when = datetime.fromtimestamp(row["created"]).strftime("%Y-%m-%d %H:%M") if row["created"] else "built in"
        size = f"{row['pairs']} answers, {row['phrasings']} phrasings" if row["pairs"] is not None else ""
        click.echo(f"{'*' if row['active'] else ' '} {row['version']:<12}  {row['name']}  {when}  {size}".rstrip())


@chat.command("use")
@click.argument("version")
def chat_use(version) -> None:
    """Answer from corpus VERSION (see `avatar chat corpora`; `english` is the chatterbot-corpus
    small talk, `demo-shop` the shipped demo FAQ)."""
    from avatar.chat.corpora import open_corpora

    row = open_corpora().use(version)
    click.echo(f"now answering from {row['name']} ({row['version']})")


@chat.command("misses")
@click.option("--version", help="Corpus version [default: the active one].")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (kind,question,answer,count,first_asked,last_asked).")
def chat_misses(version, as_csv) -> None:
    """What the presenter missed, most asked first: questions given the fallback (unanswered),
    questions it asked back about (unsure), answers visitors marked as not helpful (unhelpful)."""
    from avatar.chat.corpora import misses_csv, open_corpora

    rows = open_corpora().misses(version)
    if as_csv:
        click.echo(misses_csv(rows), nl=False)
        return
    for row in rows:
        click.echo(f"{row['count']:>5}  {row['kind']:<10}  {row['question']}")
    if not rows:
        click.echo("nothing missed yet")


@chat.command("attach")
@click.argument("question")
@click.option("--to", "to", required=True, help="The first phrasing of the answer QUESTION asks for.")
def chat_attach(question, to) -> None:
    """Make QUESTION (say, one from `avatar chat misses`) a new phrasing of an answer of the
    active corpus: a new version, answering from now on."""
    from avatar.chat.corpora import open_corpora

    row = open_corpora().add_phrasing(question, to)
    click.echo(f"now answering from {row['name']} ({row['version']}): {row['phrasings']} phrasings")


@chat.command("ask")
@click.argument("question")
@click.option("--db", help="SQLAlchemy URL of a database trained with the English corpus [default: the active "
              "corpus of this deployment].")
def chat_ask(question, db) -> None:
    """Print the presenter's answer to QUESTION (and, when it asks back, the questions it offers)."""
    from avatar.chat import Chatbot
    from avatar.chat.corpora import open_corpora

    reply = Chatbot(db).reply(question) if db else open_corpora().reply(question)
    click.echo(reply.text)
    for suggestion in reply.suggestions:
        click.echo(f"  - {suggestion}")
