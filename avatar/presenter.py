"""A presenter model folder: its layout, finding and listing models, integrity, card and facts.

`models/NAME/` (shipped) or `$AVATAR_CACHE/models/NAME/` (adapted) holds:
    model.onnx        the swap network (see avatar.inference.swap for its contract); absent from
                      a presenter built from a person's own video (`avatar presenter build`),
                      who is drawn only from his library by the exemplar renderer
    presenter.json    integrity record: {"onnx_sha256", "onnx_bytes", "files": {path: sha256}, "sealed"},
                      written at export; a file the tools add or edit later is resealed
    library/          the presenter's own frames (`avatar library build`): frames.mp4, index.npz,
                      library.json, consent.json; what the exemplar renderer draws him from
    refiner.onnx      the exemplar renderer's refiner (`avatar library refiner`), trained on the library
    consent.json      the consent record the presenter was trained under
    adaptation-consent.json  (adapted presenters) the consent of the person whose recordings adapted it
    MODEL_CARD.md     what it is, how it was made, what it measured (sections edited in place)
    weights.pt        float16 warm-start weights (`avatar swap train --init`)
    presenter-faces/  the presenter's packed training faces (adaptation needs side B)

A model whose ONNX bytes or sealed files (library, refiner, consent records, card) differ from
its integrity record is refused: a damaged or tampered file must never render a face, or state a
consent, that then gets signed as this presenter. Metadata the record does not cover (a folder
sealed by an older version) is not believed: no consent, no card. torch-free.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from avatar.errors import UserError
from avatar.paths import atomic_write, file_sha256
from avatar.provenance.consent import parse_consent

MODEL_FILE = "model.onnx"
RECORD_FILE = "presenter.json"
CONSENT_FILE = "consent.json"
CARD_FILE = "MODEL_CARD.md"
PRESENTER_FACES = "presenter-faces"
LIBRARY = "library"
REFINER_FILE = "refiner.onnx"
ADAPTATION_CONSENT = "adaptation-consent.json"
LIBRARY_FILES = ("frames.mp4", "index.npz", "library.json", "consent.json")

SHIPPED_MODELS = Path(__file__).resolve().parents[1] / "models"
DEFAULT_MODEL = SHIPPED_MODELS / "presenter-default"


def model_folder(path: Path) -> Path:
    """A model folder, or the folder of its model.onnx."""
    path = Path(path)
    return path.parent if path.suffix == ".onnx" else path


def adapted_models(folder: Path) -> list[Path]:
    """Model folders made by adaptation in `folder` (one person's), newest first."""
    folder = Path(folder)
    found = [p for p in folder.glob(f"*/{RECORD_FILE}") if not p.parent.name.startswith(".")] if folder.is_dir() else []
    return sorted((p.parent for p in found), key=lambda p: p.stat().st_mtime, reverse=True)


def display_name(folder: Path) -> str:
    """How a presenter is shown to people: the person's name from his consent record when it is
    a name (a presenter built from a colleague's footage: what the operator typed, e.g. "Anna
    Berg"); a shipped one, whose record describes its source at length, as the demo presenter
    ("Demo presenter", the others with what tells them apart: "Demo presenter (interim)"); else
    its folder's name. Read without checking the folder's integrity (every page load lists them)."""
    folder = Path(folder)
    try:
        person = json.loads((folder / CONSENT_FILE).read_text(encoding="utf-8")).get("person", "")
    except (OSError, ValueError, AttributeError):
        person = ""
    person = " ".join(str(person).split())
    if 0 < len(person) <= 40:
        return person
    if folder.resolve().parent == SHIPPED_MODELS.resolve():
        variant = folder.name.removeprefix("presenter-")
        return "Demo presenter" if folder.name == DEFAULT_MODEL.name else f"Demo presenter ({variant})"
    return folder.name


def picker_choices(folders: dict[str, Path]) -> list[tuple[str, str]]:
    """(label, name) for a picker of presenters (name -> folder, in order): each one's
    `display_name`, with the folder's name added where two would read alike."""
    labels = {name: display_name(folder) for name, folder in folders.items()}
    repeated = {label for label in labels.values() if list(labels.values()).count(label) > 1}
    return [(f"{label} ({name})" if label in repeated and label != name else label, name)
            for name, label in labels.items()]


def available_models(first: Path | None = None, folders: list[Path] = ()) -> dict[str, Path]:
    """Presenter models by name: `first` (default: the shipped default), the other shipped ones,
    then those in each of `folders` (e.g. installed for everyone, adapted for one person;
    newest first). Only these names may be loaded by a request."""
    first = model_folder(first or DEFAULT_MODEL).resolve()
    shipped = sorted(p.parent.resolve() for p in SHIPPED_MODELS.glob(f"*/{RECORD_FILE}"))
    models = {first.name: first}
    for folder in [*shipped, *(m for f in folders for m in adapted_models(f))]:
        models.setdefault(folder.name, folder.resolve())
    return models


def _sealed_files(folder: Path) -> list[str]:
    """The files besides model.onnx that the integrity record covers, where present: the
    library, its refiner, and everything a signed video or the About panel states."""
    names = [f"{LIBRARY}/{name}" for name in LIBRARY_FILES] + [REFINER_FILE, CONSENT_FILE, ADAPTATION_CONSENT,
                                                                CARD_FILE]
    return [name for name in names if (folder / name).is_file()]


def write_record(folder: Path) -> dict:
    """Seal `folder`: write presenter.json with the SHA-256 of model.onnx (None for a presenter
    drawn only from his library) and of the library's files (at export, and again when a
    library is built into the folder)."""
    folder = Path(folder)
    onnx = folder / MODEL_FILE
    record = {"onnx_sha256": file_sha256(onnx) if onnx.is_file() else None,
              "onnx_bytes": onnx.stat().st_size if onnx.is_file() else None,
              "files": {name: file_sha256(folder / name) for name in _sealed_files(folder)},
              "sealed": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    atomic_write(folder / RECORD_FILE, json.dumps(record, indent=1) + "\n")
    return record


def reseal(folder: Path, names: list[str]) -> None:
    """Record the new hashes of `names` (files of `folder` that our tools just wrote, e.g. a card
    section) in its integrity record, leaving every other hash as it was; nothing when the folder
    is not sealed yet (export seals it whole)."""
    folder = Path(folder)
    if not (folder / RECORD_FILE).is_file():
        return
    record = json.loads((folder / RECORD_FILE).read_text())
    record.setdefault("files", {}).update({name: file_sha256(folder / name) for name in names})
    record["sealed"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    atomic_write(folder / RECORD_FILE, json.dumps(record, indent=1) + "\n")


@dataclass(frozen=True)
class Presenter:
    """A checked presenter model folder. sha256: of model.onnx, equal to its integrity record
    (None: no swap network, he is drawn from his library alone); files: the other sealed
    files' hashes, each checked; consent and card_text: as read (and checked) at open, None/""
    when not sealed."""

    folder: Path
    sha256: str | None
    consent: dict | None
    files: dict = field(default_factory=dict)
    card_text: str = ""

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def onnx(self) -> Path | None:
        """The swap network, or None for a presenter drawn from his library alone."""
        return self.folder / MODEL_FILE if self.sha256 else None

    @property
    def library(self) -> Path | None:
        """The folder of his own frames (the exemplar renderer's), when sealed into this model."""
        return self.folder / LIBRARY if f"{LIBRARY}/index.npz" in self.files else None

    @property
    def refiner(self) -> Path | None:
        """The exemplar renderer's refiner (ONNX), when sealed into this model."""
        return self.folder / REFINER_FILE if REFINER_FILE in self.files else None

    @property
    def fingerprint(self) -> str:
        """One hash of everything sealed: changes when the network or the library does."""
        return hashlib.sha256(json.dumps([self.sha256, self.files], sort_keys=True).encode()).hexdigest()

    def card(self) -> str:
        return self.card_text

    def manifest_facts(self) -> dict:
        """What a C2PA manifest says about this presenter: name, ONNX hash prefix, consent."""
        facts = {"model": self.name}
        if self.sha256:
            facts["model_sha256"] = self.sha256[:16]
        if self.library is not None:
            facts["library_sha256"] = self.files[f"{LIBRARY}/frames.mp4"][:16]
        if self.consent:
            facts["consent"] = self.consent
        return facts


def open_presenter(path: Path) -> Presenter:
    """Check and describe the model folder at `path` (or its model.onnx). Raises UserError when
    it is not a model folder, has no integrity record, or its ONNX bytes changed since export."""
    folder = model_folder(path)
    onnx, record_file = folder / MODEL_FILE, folder / RECORD_FILE
    if not onnx.is_file() and not record_file.is_file():
        raise UserError(f"{folder} is not a presenter model folder (it has no {MODEL_FILE} and no {RECORD_FILE}).")
    if not record_file.is_file():
        raise UserError(f"the presenter model {folder.name} has no integrity record ({RECORD_FILE}); export it again "
                        "with `avatar swap export`.")
    try:
        record = json.loads(record_file.read_text())
        expected, files = record["onnx_sha256"], dict(record.get("files", {}))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise UserError(f"the integrity record of the presenter model {folder.name} is damaged.") from None
    if expected is None:  # drawn from his library alone: the library must be sealed
        actual = None
        if f"{LIBRARY}/index.npz" not in files:
            raise UserError(f"the presenter model {folder.name} has neither a swap network nor a library of his "
                            "own frames; build it again.")
    else:
        actual = file_sha256(onnx) if onnx.is_file() else None
        if actual != expected:
            raise UserError(f"the presenter model {folder.name} was changed after it was exported ({MODEL_FILE} is "
                            "missing or no longer matches its integrity record), so it is refused; restore it or "
                            "export it again.")
    sealed = {}  # the small files' checked bytes: what was hashed is what is believed
    for name, digest in files.items():
        path = (folder / name).resolve()
        changed = not path.is_relative_to(folder.resolve()) or not path.is_file()
        if not changed and name in (CONSENT_FILE, CARD_FILE):
            sealed[name] = path.read_bytes()
            changed = hashlib.sha256(sealed[name]).hexdigest() != digest
        elif not changed:
            changed = file_sha256(path) != digest
        if changed:
            raise UserError(f"the presenter model {folder.name} was changed after it was sealed ({name} is missing or "
                            "no longer matches its integrity record), so it is refused; restore it or build it again.")
    consent = (parse_consent(sealed[CONSENT_FILE], f"{folder.name}/{CONSENT_FILE}").to_dict()
               if CONSENT_FILE in sealed else None)
    card = sealed[CARD_FILE].decode("utf-8", errors="replace") if CARD_FILE in sealed else ""
    return Presenter(folder.resolve(), actual, consent, files, card)


def set_card_section(folder: Path, heading: str, body: str) -> Path | None:
    """Write the `## heading` section of folder/MODEL_CARD.md as `body` (an older one is removed
    and the new one goes last). None when the folder has no card."""
    card = Path(folder) / CARD_FILE
    if not card.is_file():
        return None
    title = f"## {heading}"
    lines = card.read_text().rstrip("\n").split("\n")
    if title in lines:
        start = lines.index(title)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        while start > 0 and not lines[start - 1].strip():
            start -= 1
        lines = lines[:start] + lines[end:]
    text = "\n".join(lines).rstrip("\n") + f"\n\n{title}\n\n{body.strip()}\n"
    atomic_write(card, text)
    reseal(folder, [CARD_FILE])
    return card
