"""A team's question-and-answer corpus, read from the files people already have.

Formats (chosen by the file's extension):
    .yml / .yaml   chatterbot-corpus: `conversations:` lists of statements; each statement
                   answers the one before it (`categories:` is ignored).
    .csv / .tsv    rows of `question, answer[, other phrasing...]`; a question may also give
                   other phrasings separated by `|`. A first row `question, answer` is a header.

Every file is checked whole before anything is loaded: it must be UTF-8 text (a BOM is fine),
at most MAX_BYTES, and each row must have a question and an answer within the app's length
limits. A mistake is refused with the file's name and line number.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from avatar.errors import UserError, quoted

MAX_BYTES = 5 * 1024**2  # a 2,000-pair FAQ is about 0.5 MB
MAX_QUESTION = 500  # the longest message a person can type
MAX_ANSWER = 1500  # the longest answer the presenter renders
MAX_PAIRS = 20_000  # every answer is rendered ahead: far more is not a FAQ
MAX_NAME = 100  # a corpus's name, as operators list and choose it
MAX_NESTING = 8  # lists and mappings inside one another (a chatterbot-corpus file has three)
FORMATS = (".yml", ".yaml", ".csv", ".tsv")


@dataclass(frozen=True)
class Pair:
    """One entry: the phrasings of a question (first is the main one), its answer, and the
    line it starts on in its file."""

    questions: tuple[str, ...]
    answer: str
    line: int


@dataclass(frozen=True)
class Corpus:
    """name: taken from the first file's stem unless given; files: their names; sha256: of
    every file's bytes in order."""

    name: str
    pairs: tuple[Pair, ...]
    files: tuple[str, ...]
    sha256: str

    @property
    def phrasings(self) -> int:
        return sum(len(p.questions) for p in self.pairs)


def read_corpus(paths: list[Path], name: str | None = None) -> Corpus:
    """Read and check every file of a corpus (see the module docstring); UserError on the
    first mistake, naming the file and line."""
    if not paths:
        raise UserError("give at least one corpus file.")
    name = " ".join((name or "").split()) or Path(paths[0]).stem
    if len(name) > MAX_NAME:
        raise UserError(f"a corpus name is at most {MAX_NAME} characters; this one is {len(name):,}.")
    pairs: list[Pair] = []
    digest = hashlib.sha256()
    for path in paths:
        path = Path(path)
        data = _read_bytes(path)
        digest.update(data)
        text = _decode(data, path)
        suffix = path.suffix.lower()
        room = MAX_PAIRS - len(pairs)
        found = _yaml_pairs(text, path, room) if suffix in (".yml", ".yaml") else _table_pairs(text, path, suffix)
        if not found:
            raise UserError(f"{path.name}: no question and answer found.")
        if len(found) > room:
            raise UserError(f"{path.name}: more than {MAX_PAIRS:,} questions and answers in this corpus.")
        pairs += found
    return Corpus(name, tuple(pairs), tuple(Path(p).name for p in paths), digest.hexdigest())


def _read_bytes(path: Path) -> bytes:
    if path.suffix.lower() not in FORMATS:
        raise UserError(f"{quoted(path.name)}: a corpus is a .csv, .tsv or chatterbot-corpus .yml file.")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise UserError(f"{path.name} is {size / 1024**2:.1f} MB; a corpus file is at most "
                            f"{MAX_BYTES // 1024**2} MB.")
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise UserError(f"{path}: no such file.") from None
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}.") from None


def _decode(data: bytes, path: Path) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise UserError(f"{path.name} line {line}: not UTF-8 text; save the file as UTF-8 and load it again.") from None
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise UserError(f"{path.name} line {line}: binary data, not text.")
    return text


def _clean(value: object, what: str, limit: int, path: Path, line: int) -> str:
    text = " ".join(str(value).split()) if value is not None else ""
    if not text:
        raise UserError(f"{path.name} line {line}: the {what} is empty.")
    if len(text) > limit:
        raise UserError(f"{path.name} line {line}: the {what} is {len(text)} characters long; at most {limit}.")
    return text


def _table_pairs(text: str, path: Path, suffix: str) -> list[Pair]:
    delimiter = "\t" if suffix == ".tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    pairs = []
    try:
        for row in reader:
            line = reader.line_num
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            if not pairs and [c.lower() for c in cells[:2]] == ["question", "answer"]:
                continue  # the header
            if len(cells) < 2:
                raise UserError(f"{path.name} line {line}: expected a question and an answer separated by "
                                f"{'a tab' if delimiter == chr(9) else 'a comma'}, found one column.")
            phrasings = [p for cell in [cells[0], *cells[2:]] for p in cell.split("|") if p.strip()]
            if not phrasings:
                raise UserError(f"{path.name} line {line}: the question is empty.")
            questions = tuple(dict.fromkeys(_clean(p, "question", MAX_QUESTION, path, line) for p in phrasings))
            pairs.append(Pair(questions, _clean(cells[1], "answer", MAX_ANSWER, path, line), line))
    except csv.Error as error:
        raise UserError(f"{path.name} line {reader.line_num}: {error}.") from None
    return pairs


def _yaml_pairs(text: str, path: Path, room: int) -> list[Pair]:
    """The pairs of a chatterbot-corpus file; at most `room` (more is refused before they are
    made: YAML aliases repeat a conversation by name, and 100 kB of them once made 2 million)."""
    import yaml

    try:
        _check_nesting(text, path)
        document = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{path.name}{where}: not valid YAML ({getattr(error, 'problem', None) or error}).") from None
    conversations = _mapping_value(document, "conversations")
    if not isinstance(conversations, yaml.SequenceNode):
        line = document.start_mark.line + 1 if document is not None else 1
        raise UserError(f"{path.name} line {line}: a chatterbot-corpus file has a `conversations:` list.")
    pairs = []
    for conversation in conversations.value:
        line = conversation.start_mark.line + 1
        if not isinstance(conversation, yaml.SequenceNode):
            raise UserError(f"{path.name} line {line}: each conversation is a list of statements.")
        statements = []
        for statement in conversation.value:
            if not isinstance(statement, yaml.ScalarNode):
                raise UserError(f"{path.name} line {statement.start_mark.line + 1}: a statement is one line of text.")
            statements.append((statement.value, statement.start_mark.line + 1))
        if len(statements) < 2:
            raise UserError(f"{path.name} line {line}: a conversation needs a question and an answer.")
        if len(pairs) + len(statements) - 1 > room:
            raise UserError(f"{path.name} line {line}: more than {MAX_PAIRS:,} questions and answers in this corpus"
                            " (YAML aliases count each time they are used).")
        for (question, q_line), (answer, a_line) in zip(statements, statements[1:]):
            pairs.append(Pair((_clean(question, "question", MAX_QUESTION, path, q_line),),
                              _clean(answer, "answer", MAX_ANSWER, path, a_line), q_line))
    return pairs


def _check_nesting(text: str, path: Path) -> None:
    """Refuse YAML nested deeper than MAX_NESTING lists or mappings (a corpus needs three), read
    as a stream of events: the parser that builds the document recurses once per level."""
    import yaml

    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                raise UserError(f"{path.name} line {event.start_mark.line + 1}: lists or mappings nested more than "
                                f"{MAX_NESTING} deep; a chatterbot-corpus file needs three.")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _mapping_value(node, key: str):
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return None
    for name, value in node.value:
        if isinstance(name, yaml.ScalarNode) and name.value == key:
            return value
    return None
