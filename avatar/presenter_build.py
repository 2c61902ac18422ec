"""A new presenter from one consenting person's own video: the footage checked, his consent
recorded, his frames indexed for the exemplar renderer, all sealed into a model folder.

A built presenter has no swap network: he is drawn only from his own frames (retrieved, warped
to the speech or the driver's expression, and repaired by a refiner once one is trained with
`avatar library refiner`). It is built as a draft (`<cache>/models/drafts/NAME`), which an
operator can try, then published (moved to `<cache>/models/installed/NAME`), after which every
visitor can pick it. Unsuitable footage is refused before any work, with the reason.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from avatar.errors import UserError, quoted
from avatar.paths import atomic_write, cache_dir, writable_dir
from avatar.presenter import CARD_FILE, CONSENT_FILE, available_models, open_presenter
from avatar.provenance.consent import ConsentRecord, parse_consent

DRAFTS, INSTALLED = "drafts", "installed"  # folders of <cache>/models
NAME_PATTERN = "3 to 40 lower-case letters, digits and hyphens, starting with a letter"


@dataclass(frozen=True)
class FootageConfig:
    """What a presenter's source video must be: min/max_seconds long; in `samples` evenly
    spaced frames, one face in at least `min_face_share` of them (another face counts when it is
    at least half the subject's width), its median width at least `min_face` pixels and the face's
    median brightness (mean luma, 0-255) at least `min_brightness`."""

    min_seconds: float = 60.0
    max_seconds: float = 300.0
    samples: int = 24
    min_face_share: float = 0.8
    min_face: int = 80
    min_brightness: float = 50.0


@dataclass(frozen=True)
class Footage:
    """What the check found: duration (s), frames with one face, with several, median face
    width (px) and brightness (0-255) over the frames with a face."""

    duration: float
    samples: int
    one_face: int
    several_faces: int
    face_width: float
    brightness: float


def check_footage(video: Path, config: FootageConfig = FootageConfig()) -> Footage:
    """Measure `video` and refuse it (UserError with the reason and what to do) when it is too
    short or long, shows no face, several faces, a face too small, or is too dark."""
    from avatar.config import MediaLimits
    from avatar.media import probe, read_frames
    from avatar.vision import choose_face, detect_faces

    info = probe(video, MediaLimits(max_seconds=config.max_seconds + 1, max_bytes=2 * 1024**3))
    if info.duration < config.min_seconds:
        raise UserError(f"the video is {info.duration:.0f} s long; a presenter needs {config.min_seconds:.0f} s to "
                        f"{config.max_seconds / 60:.0f} minutes of the person talking to the camera.")
    if info.duration > config.max_seconds:
        raise UserError(f"the video is {info.duration / 60:.1f} minutes long; at most {config.max_seconds / 60:.0f} "
                        "minutes are used: trim it.")
    indices = sorted({int(i) for i in np.linspace(0, max(info.frames - 1, 0), config.samples).round()})
    one = several = 0
    widths, brightness = [], []
    for rgb in read_frames(video, indices).values():
        faces = detect_faces(rgb, "hog", 1)
        face, _ = choose_face(faces, rgb.shape[1], rgb.shape[0])
        if face is None:
            continue
        width = face.box[2] - face.box[0]
        others = [f for f in faces if f is not face and (f.box[2] - f.box[0]) >= width / 2]
        several += bool(others)
        one += not others
        left, top, right, bottom = (max(0, v) for v in face.box)
        widths.append(width)
        brightness.append(float((rgb[top:bottom, left:right] @ np.array([0.299, 0.587, 0.114])).mean()))
    found = Footage(info.duration, len(indices), one, several, float(np.median(widths)) if widths else 0.0,
                    float(np.median(brightness)) if brightness else 0.0)
    need = config.min_face_share * found.samples
    if found.one_face + found.several_faces < need / 2:
        raise UserError(f"no face was found in {found.samples - found.one_face - found.several_faces} of "
                        f"{found.samples} frames checked: the person must face the camera throughout.")
    if found.several_faces > found.samples - need:
        raise UserError(f"several faces are in {found.several_faces} of {found.samples} frames checked: film the "
                        "person alone.")
    if found.face_width < config.min_face:
        raise UserError(f"the face is about {found.face_width:.0f} pixels wide; at least {config.min_face} are "
                        "needed: film from closer or in a higher resolution.")
    if found.brightness < config.min_brightness:
        raise UserError(f"the face is too dark (brightness {found.brightness:.0f} of 255, at least "
                        f"{config.min_brightness:.0f}): film in better light.")
    if found.one_face < need:
        raise UserError(f"a single face was found in only {found.one_face} of {found.samples} frames checked: the "
                        "person must face the camera throughout.")
    return found


def check_name(name: str) -> str:
    """`name` stripped; UserError unless it is a valid presenter name (NAME_PATTERN)."""
    name = (name or "").strip()
    if not re.fullmatch(r"[a-z][a-z0-9-]{2,39}", name):
        raise UserError(f"a presenter's name is {NAME_PATTERN}; {quoted(name)} is not.")
    return name


def models_folder(kind: str) -> Path:
    """`<cache>/models/drafts` or `<cache>/models/installed`."""
    return writable_dir(cache_dir("models") / kind, "models folder")


def build_presenter(video: Path, name: str, consent: dict, footage: FootageConfig = FootageConfig(),
                    on_progress: Callable[[float, str], None] | None = None, heldout: float = 0.0) -> Path:
    """Build the draft presenter `name` from `video` of the person in `consent` (a consent
    record's fields: person, date, scope, basis; source defaults to the video's name). Checks
    the name, the consent and the footage before any work; the folder appears only when
    complete, and replaces a draft of the same name only then (an operator builds again after
    a preview; a published presenter's name is refused). Returns the draft's folder."""
    from avatar.render.exemplar import build_presenter_library

    progress = on_progress or (lambda share, stage: None)
    name = check_name(name)
    if (models_folder(INSTALLED) / name).exists():
        raise UserError(f"a presenter called {quoted(name)} is already published; choose another name.")
    record = parse_consent(json.dumps({"source": f"{Path(video).name}, uploaded "
                                                 f"{datetime.now(timezone.utc):%Y-%m-%d}", **consent}).encode(),
                           "the consent form")
    found = check_footage(video, footage)  # refused before any work (and before any progress is shown)
    drafts = models_folder(DRAFTS)
    building = drafts / f".building-{name}"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    try:
        consent_file = building / CONSENT_FILE
        atomic_write(consent_file, json.dumps(record.to_dict(), indent=1) + "\n")
        atomic_write(building / CARD_FILE, model_card(name, record, found, Path(video).name))
        progress(0.05, "indexing the person's frames")
        build_presenter_library(building, [Path(video)], consent_file, heldout=heldout, new=True,
                                on_progress=lambda done, total: progress(0.05 + 0.9 * done / max(total, 1),
                                                                         "indexing the person's frames"))
        open_presenter(building)  # sealed and intact
        folder = drafts / name
        replaced = drafts / f".replaced-{name}"
        shutil.rmtree(replaced, ignore_errors=True)
        if folder.exists():  # the earlier draft goes only now that its successor is complete
            folder.rename(replaced)
        building.rename(folder)
        shutil.rmtree(replaced, ignore_errors=True)
        shutil.rmtree(cache_dir("library-work") / building.name, ignore_errors=True)  # tracked landmarks
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    progress(1.0, "done")
    return folder


def model_card(name: str, consent: ConsentRecord, footage: Footage, source: str) -> str:
    return f"""# Presenter {name}

## Who this is
{consent.person}, drawn from {source} ({footage.duration:.0f} s). Consent given on {consent.date}:
{consent.basis}. May be used for: {consent.scope}.

## How the face is made
Only from his own video: for every frame of an answer the renderer retrieves his recorded frames
nearest to the expression and pose wanted, warps them into place and blends them (the exemplar
renderer). There is no face-swap network and no other person's face. Every video says it is
AI-generated and carries signed content credentials naming this presenter and this consent.

## Footage check
{footage.samples} frames checked: one face in {footage.one_face}, several in {footage.several_faces};
face about {footage.face_width:.0f} px wide, brightness {footage.brightness:.0f} of 255.

## Refiner
Not trained yet (`avatar library refiner --model ... --run ...` trains one on this library).
"""


def drafts() -> list[str]:
    """Names of the draft presenters, newest first."""
    folder = models_folder(DRAFTS)
    found = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return [p.name for p in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)]


def presenters() -> list[tuple[str, Path, bool]]:
    """(name, folder, is a draft) of every presenter of this machine: the shipped ones and those
    published for everyone (as `avatar.presenter.available_models` lists them), then the drafts."""
    published = [(name, folder, False) for name, folder in available_models(None, [models_folder(INSTALLED)]).items()]
    return published + [(name, models_folder(DRAFTS) / name, True) for name in drafts()]


def publish_presenter(name: str) -> Path:
    """Offer the draft `name` to every visitor (moved to the installed presenters)."""
    name = check_name(name)
    draft = models_folder(DRAFTS) / name
    if not draft.is_dir():
        raise UserError(f"there is no draft presenter called {quoted(name)}; build it first.")
    open_presenter(draft)  # intact
    target = models_folder(INSTALLED) / name
    if target.exists():
        raise UserError(f"a presenter called {quoted(name)} is already published.")
    draft.rename(target)
    return target
