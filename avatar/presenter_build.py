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
from avatar.presenter import CARD_FILE, CONSENT_FILE, LIBRARY, available_models, open_presenter
from avatar.provenance.consent import ConsentRecord, parse_consent

DRAFTS, INSTALLED = "drafts", "installed"  # folders of <cache>/models
NAME_PATTERN = "3 to 40 lower-case letters, digits and hyphens, starting with a letter"


@dataclass(frozen=True)
class FootageConfig:
    """What a presenter's source video must be: min/max_seconds long; in `samples` evenly
    spaced frames, one face in at least `min_face_share` of them (another face counts when it is
    at least half the subject's width), its median width at least `min_face` pixels and the face's
    median brightness (mean luma, 0-255) at least `min_brightness`.

    The presenter's library keeps a working resolution, since answers are drawn at its size:
    footage is scaled down (never up) so that its shorter side is at most `working_side` pixels
    and the face at most `face_max` wide, but never so far that the face is narrower than
    `face_min`. The face's size sets the cost of drawing every frame (the warp is computed at
    each of its pixels), the frame's size that of decoding and encoding: a 720p or 1080p phone
    recording, landscape or portrait, then draws faster than real time on 2 CPU cores, with the
    face still wider than the 128-px crops the renderer works on (README "Phone footage")."""

    min_seconds: float = 60.0
    max_seconds: float = 300.0
    samples: int = 24
    min_face_share: float = 0.8
    min_face: int = 80
    min_brightness: float = 50.0
    working_side: int = 480
    face_max: int = 200
    face_min: int = 110


@dataclass(frozen=True)
class Footage:
    """What the check found: duration (s), frames with one face, with several, median face
    width (px) and brightness (0-255) over the frames with a face, and the frame's size (px,
    upright)."""

    duration: float
    samples: int
    one_face: int
    several_faces: int
    face_width: float
    brightness: float
    width: int
    height: int


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
                    float(np.median(brightness)) if brightness else 0.0, info.width, info.height)
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
        working = working_side(found, footage)
        atomic_write(building / CARD_FILE, model_card(name, record, found, Path(video).name, working))
        progress(0.05, "indexing the person's frames")
        build_presenter_library(building, [Path(video)], consent_file, heldout=heldout, new=True,
                                on_progress=lambda done, total: progress(0.05 + 0.9 * done / max(total, 1),
                                                                         "indexing the person's frames"),
                                short_side=working)
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


def working_side(found: Footage, config: FootageConfig) -> int | None:
    """The shorter side, in pixels, the library of footage that `check_footage` found keeps
    (None: as recorded); see `FootageConfig`."""
    short, face = min(found.width, found.height), max(found.face_width, 1.0)
    factor = max(min(config.working_side / short, config.face_max / face), config.face_min / face)
    return None if factor >= 1 else int(round(short * factor / 2) * 2)


def model_card(name: str, consent: ConsentRecord, footage: Footage, source: str, working: int | None = None) -> str:
    kept = (f"Kept at {working} px on its shorter side (scaled down for answers drawn in real time)." if working
            else "Kept at its recorded size.")
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
{kept}

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


# -- what to record, and what the footage has ----------------------------------------------

RECORDING_GUIDE = """**What to record (about 90 seconds).** Sit facing the camera in even light, your face
filling about a third of the picture, nobody else in view. Read the script below aloud at your
normal pace, looking into the lens; do what the *[brackets]* say.

1. *[Look into the camera, mouth closed, and listen calmly for ten seconds.]*
2. Hello, and welcome. My name is ___, and I am here to help you today.
3. Maybe you bought a blue bag, a big box of paper, or a bottle of milk from me.
4. *[Smile.]* Please be patient with me: we will sort it out together.
5. Who knew? Two new blue shoes, a cool loose roof, and a few good books.
6. *[Nod slowly twice.]* You see, we keep each street clean and green, even in the evening.
7. Father said the car park is far, far away: half an hour by car.
8. *[Laugh briefly, as at a friendly joke.]* Thank you very much. Oh, and one more thing:
9. the shop opens at nine and closes at half past five, from Monday through Thursday.
10. Vivid fish, thin things, sharp shells: show me which ones you choose.
11. *[Turn your head a little left, then right, then back to the camera.]*
12. Goodbye for now, and have a lovely day.
13. *[Listen calmly again, mouth closed, for ten seconds.]*

The script has every mouth shape an answer needs: lips closed (p, b, m), rounded (o, u, w), wide
(ee), open (aa), and teeth on lip (f, v), plus a smile, a laugh, nods and two calm stretches for
the presenter's listening loop. After a build, the report below the drafts says which of them
the footage holds."""

# Each shape: (what it is, whether an answer needs it, what the presenter does without it).
SHAPES = {
    "closed": ("lips closed (p, b, m)", True, "the lips never quite close on p, b and m"),
    "open": ("mouth open (aa)", True, "open vowels are drawn from the widest mouth recorded, stretched by the "
             "warp, so they look mumbled"),
    "rounded": ("lips rounded (o, u, w)", True, "o, u and w are drawn by narrowing the nearest mouth recorded, "
                "without real lip rounding"),
    "wide": ("lips spread (ee)", False, "ee is drawn by widening the nearest mouth recorded"),
    "smile": ("a smile", False, "a smile asked for by a recorded answer becomes at most a slight one"),
    "laugh": ("a laugh", False, "the presenter cannot laugh"),
    "blink": ("blinks", False, "the eyes do not blink"),
    "nod": ("nods (head up and down)", False, "the head moves up and down only as little as in the footage"),
    "camera": ("eyes to the camera", True, "the presenter looks past the viewer"),
    "listening": ("a calm listening stretch (2 s or more)", True, "the listening loop between answers is short "
                  "and may show the presenter about to speak"),
}
ENOUGH_S = 0.5  # seconds of a shape for it to count as covered (fewer frames: "few")
LISTENING_S = 2.0


def footage_coverage(library) -> list[dict]:
    """Which shapes and expressions a presenter's library (`PresenterLibrary`) holds: per shape
    of SHAPES (in that order) its name, what it is, essential, seconds of footage and state
    ("ok", "few" or "missing"), and what the presenter does instead when not "ok".

    Measured on his valid frames, against his own face where faces differ: mouth opening is
    the inner-lip gap over the eye distance (closed < 0.03, open >= 0.25); rounded and spread
    lips are at least 15 % narrower or 8 % wider than his median mouth; a smile is that wide with
    the corners raised by 2.5 % of the eye span over his neutral face, a laugh a smile with an
    open mouth; a blink an eye opening under 0.7 of his median; a nod the head tilted up or down
    by at least 0.05 eye distances from his usual pitch; eyes to the camera a head turned less
    than 0.1 eye distances; the listening stretch his longest run of consecutive frames with the
    mouth closed."""
    frames = library.frames
    valid = frames.valid
    fps = float(frames.meta.get("fps") or 25.0)
    features = frames.features[valid]
    opening, width, roundness, yaw, pitch, eyes = (features[:, i] for i in (0, 1, 2, 4, 5, 6))
    canon, neutral = library.canon[valid], library.neutral
    span = float(np.linalg.norm(neutral[45] - neutral[36]))
    lift = (neutral[[48, 54], 1].mean() - canon[:, [48, 54], 1].mean(1)) / span  # + = corners raised
    smile = (width >= 1.08) & (lift >= 0.025)
    found = {"closed": opening < 0.03, "open": opening >= 0.25, "rounded": (roundness >= 0.15) & (opening >= 0.03),
             "wide": (width >= 1.08) & (opening < 0.15) & ~smile, "smile": smile, "laugh": smile & (opening >= 0.2),
             "blink": eyes < 0.7 * np.median(eyes), "camera": np.abs(yaw) < 0.1,
             "nod": np.abs(pitch - np.median(pitch)) >= 0.05}
    seconds = {name: float(mask.sum()) / fps for name, mask in found.items()}
    seconds["listening"] = _longest_run(frames.valid & (frames.features[:, 0] < 0.05), frames.continues) / fps
    rows = []
    for name, (what, essential, instead) in SHAPES.items():
        need = LISTENING_S if name == "listening" else ENOUGH_S
        state = "ok" if seconds[name] >= need else "few" if seconds[name] > 0 else "missing"
        rows.append({"shape": name, "what": what, "essential": essential, "seconds": round(seconds[name], 1),
                     "state": state, "instead": None if state == "ok" else instead})
    return rows


def _longest_run(mask: np.ndarray, continues: np.ndarray) -> int:
    """Frames in the longest run of consecutive True in `mask` within one shot (`continues[i]`:
    frame i follows frame i-1)."""
    best = run = 0
    for i, on in enumerate(mask):
        run = run + 1 if on and i and continues[i] and mask[i - 1] else int(on)
        best = max(best, run)
    return best


def draft_coverage(name: str) -> list[dict]:
    """`footage_coverage` of the draft presenter `name`."""
    from avatar.render import PresenterLibrary

    folder = models_folder(DRAFTS) / check_name(name)
    if not folder.is_dir():
        raise UserError(f"there is no draft presenter called {quoted(name)}.")
    return footage_coverage(PresenterLibrary.load(folder / LIBRARY))


def missing_essentials(rows: list[dict]) -> list[str]:
    """What an answer needs that the footage lacks (rows of `footage_coverage`)."""
    return [row["what"] for row in rows if row["essential"] and row["state"] != "ok"]


STATE_WORDS = {"ok": "yes", "few": "too little", "missing": "missing"}


def coverage_summary(rows: list[dict]) -> str:
    """One sentence: what answers need that the footage lacks, or that it lacks nothing."""
    lacking = missing_essentials(rows)
    return (f"This footage lacks what answers need: {', '.join(lacking)}." if lacking
            else "The footage has every shape an answer needs.")


def coverage_markdown(rows: list[dict]) -> str:
    """The coverage report as Markdown (the app): the summary first, then a table."""
    advice = (" Record again with the script above before publishing, or publish knowing what the presenter will "
              "do instead (below).") if missing_essentials(rows) else ""
    lines = [f"**{coverage_summary(rows)}**{advice}", "", "| in the footage | seconds | | without it |",
             "|---|---|---|---|"]
    lines += [f"| {row['what']}{' (essential)' if row['essential'] else ''} | {row['seconds']} | "
              f"{STATE_WORDS[row['state']]} | {row['instead'] or ''} |" for row in rows]
    return "\n".join(lines)


def coverage_text(rows: list[dict]) -> str:
    """The coverage report as plain lines (the command line): the summary first, a line per shape."""
    lines = [coverage_summary(rows)]
    lines += [f"  {row['what']:<40} {row['seconds']:>6.1f} s  {STATE_WORDS[row['state']]}"
              + (f": {row['instead']}" if row["instead"] else "") for row in rows]
    return "\n".join(lines)
