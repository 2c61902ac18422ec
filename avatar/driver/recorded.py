"""Recorded driver clips: a person's own recording of a reply, used instead of a synthesised one.

Clips are keyed by the reply's normalised text (case, spacing and punctuation ignored) and by
owner (a person's `owner_key`, or "published" for the answers every visitor gets). A clip is
checked in a private staging folder (normalised to a constant frame rate, upright, even size;
trimmed to its speech when it has sound and starts or ends with over TRIM_MIN_S of quiet;
refused when its speech is far longer than the line; a face large enough to swap in at least
`min_face_share` of sampled frames), then its files go
to media storage under a new versioned key and its row into the shared database in one
transaction; only then are the clip it replaces and the answers rendered from that clip
deleted. A refused upload, a crash or a second replica reading meanwhile never sees half a clip
or loses the clip it would replace.
    recorded/<owner>/<clip key>/<version>/clip.mp4    the normalised video
    recorded/<owner>/<clip key>/<version>/audio.wav   the recorded sound, when there is any
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from avatar.config import MediaLimits, RenderConfig
from avatar.errors import UserError
from avatar.media import normalize, read_frames
from avatar.media.normalize import trim
from avatar.media.sound import speech_span
from avatar.paths import file_sha256, scratch_dir
from avatar.storage import LocalStorage, Storage
from avatar.store import Store
from avatar.vision import choose_face, find_faces

_WORDS = re.compile(r"[^\W_]+")
TRIM_MIN_S = 0.5  # quiet before and after the speech, together, worth trimming
# A take is refused when longer than this many times the synthesised line, plus LONG_SLACK_S:
# people speak more slowly than espeak-ng, and pause, but not four times as long.
LONG_FACTOR, LONG_SLACK_S = 2.5, 3.0


def clip_key(text: str) -> str:
    """Folder name for a reply text: a hash of its lower-cased words."""
    words = " ".join(_WORDS.findall(text.lower()))
    if not words:
        raise UserError("a recorded clip needs the text it answers with (it was empty).")
    return hashlib.sha256(words.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class RecordedClip:
    """A stored recording; `video` and `audio` are paths on this machine (fetched from object
    storage on first use)."""

    text: str
    video: Path
    audio: Path | None
    duration: float
    fps: float
    source: str
    created: str
    sha256: str
    owner: str
    key: str
    trimmed: float = 0.0  # seconds of quiet cut from the take when it was saved (not stored)


def face_share(video: Path, frames: int, config: RenderConfig = RenderConfig(), samples: int = 10) -> float:
    """Share of `samples` evenly spaced frames of `video` in which the renderer would find a
    face at least `config.min_face` pixels wide (same detector settings as rendering)."""
    indices = sorted({int(i) for i in np.linspace(0, max(frames - 1, 0), samples).round()})
    found = 0
    for rgb in read_frames(video, indices).values():
        faces = find_faces(rgb, config.track)
        face, _ = choose_face(faces, rgb.shape[1], rgb.shape[0])
        if face is not None and face.box[2] - face.box[0] >= config.min_face:
            found += 1
    return found / len(indices)


class RecordedClips:
    """The recordings of one `owner` in the shared `store` and `media` storage."""

    def __init__(self, store: Store, media: Storage, owner: str,
                 limits: MediaLimits = MediaLimits(max_seconds=300, max_bytes=500 * 1024**2),
                 render: RenderConfig = RenderConfig(), min_face_share: float = 0.8):
        self.store, self.media, self.owner = store, media, owner
        self.limits, self.render, self.min_face_share = limits, render, min_face_share

    @classmethod
    def in_folder(cls, folder: Path, owner: str = "local", **kwargs) -> RecordedClips:
        """Recordings kept in `folder` alone (its own SQLite index and files): for tools and tests."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return cls(Store(f"sqlite:///{folder / 'state.sqlite3'}").prepare(), LocalStorage(folder), owner, **kwargs)

    def save(self, text: str, video: Path, source: str = "upload", expected: float | None = None) -> RecordedClip:
        """Validate and store `video` as the recording of `text` (replacing an older one and the
        answers rendered from it), trimmed to its speech. `expected`: seconds the line takes to
        say (the synthesised voice's); a take whose speech is much longer is refused. UserError
        when it is not a usable video, too long or its face could not be swapped; the older
        recording is then kept."""
        key = clip_key(text)
        with tempfile.TemporaryDirectory(prefix="recording-", dir=scratch_dir()) as tmp:
            staging = Path(tmp)
            normal = normalize(video, staging / "work", self.limits)
            taken = normal.info.duration
            span = speech_span(normal.audio) if normal.audio is not None else None
            if span is not None and span[0] + (taken - span[1]) >= TRIM_MIN_S:
                normal = trim(normal, span[0], span[1], staging / "trim")
            if expected is not None and normal.info.duration > LONG_FACTOR * expected + LONG_SLACK_S:
                spoken = " of speech" if span is not None else ""
                raise UserError(f"this take is {normal.info.duration:.1f} s{spoken}, but the line takes about "
                                f"{expected:.1f} s to say: record just the line (up to about "
                                f"{LONG_FACTOR * expected + LONG_SLACK_S:.0f} s).")
            share = face_share(normal.video, normal.info.frames, self.render)
            if share < self.min_face_share:
                smallest = max(self.render.min_face, self.render.track.smallest_face(normal.info.width))
                raise UserError(f"the presenter cannot be put into this recording: a face large enough was found in "
                                f"only {share:.0%} of it. Face the camera from closer, in good light (in a "
                                f"{normal.info.width}x{normal.info.height} recording the face must be at least "
                                f"{smallest} pixels wide), and record again.")
            created = datetime.now(timezone.utc)
            folder = f"recorded/{self.owner}/{key}/{created:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
            clip_file = staging / "clip.mp4"
            if staging in normal.video.parents:  # transcoded or trimmed: ours to move
                normal.video.rename(clip_file)
            else:  # already normal: the upload itself is kept, copied
                shutil.copyfile(normal.video, clip_file)
            row = {"owner": self.owner, "clip": key, "text": text, "video": f"{folder}/clip.mp4",
                   "audio": f"{folder}/audio.wav" if normal.audio is not None else None,
                   "duration": round(normal.info.duration, 3), "frames": normal.info.frames, "fps": normal.info.fps,
                   "face_share": share, "sha256": file_sha256(clip_file), "source": source,
                   "created": created.isoformat(timespec="seconds")}
            self.media.put(row["video"], clip_file)
            if normal.audio is not None:
                self.media.put(row["audio"], Path(normal.audio))
        try:
            old, stale = self.store.put_recording(row)
        except Exception:
            self._delete_media(row, [])
            raise
        if old is not None:
            self._delete_media(old, stale)
        return replace(self._clip(row), trimmed=round(max(0.0, taken - row["duration"]), 2))

    def get(self, text: str) -> RecordedClip | None:
        """The recording for `text`, or None."""
        try:
            key = clip_key(text)
        except UserError:
            return None
        row = self.store.recording(self.owner, key)
        return self._clip(row) if row else None

    def delete(self, text: str) -> list[str] | None:
        """Delete the recording of `text` and every answer rendered from it; returns the deleted
        answers' file names (None when there was no recording)."""
        old, stale = self.store.delete_recording(self.owner, clip_key(text))
        if old is None:
            return None
        self._delete_media(old, stale)
        return [Path(answer["video"]).name for answer in stale]

    def all(self) -> list[RecordedClip]:
        """Every recording of this owner, oldest first."""
        return [self._clip(row) for row in self.store.recordings_of(self.owner)]

    def _delete_media(self, recording: dict, answers: list[dict]) -> None:
        for key in [recording["video"], recording["audio"], *(a["video"] for a in answers)]:
            if key:
                self.media.delete(key)

    def _clip(self, row: dict) -> RecordedClip:
        return RecordedClip(row["text"], self.media.local(row["video"]),
                            self.media.local(row["audio"]) if row["audio"] else None, row["duration"], row["fps"],
                            row["source"], row["created"], row["sha256"], row["owner"], row["clip"])


def adopt_folder_recordings(store: Store, media: LocalStorage) -> int:
    """Index recordings kept by earlier versions as folders `recorded/<owner>/<clip key>/` with a
    `meta.json` (before the shared database), so an upgrade loses none; returns how many."""
    import json

    adopted = 0
    for meta_file in sorted(media.root.glob("recorded/*/*/meta.json")):
        folder = meta_file.parent
        owner, key = folder.parent.name, folder.name
        if store.recording(owner, key) is not None or not (folder / "clip.mp4").is_file():
            continue
        meta = json.loads(meta_file.read_text())
        prefix = f"recorded/{owner}/{key}"
        store.put_recording({
            "owner": owner, "clip": key, "text": meta["text"], "video": f"{prefix}/clip.mp4",
            "audio": f"{prefix}/audio.wav" if (folder / "audio.wav").is_file() else None,
            "duration": meta["duration"], "frames": meta["frames"], "fps": meta["fps"],
            "face_share": meta.get("face_share", 1.0),
            "sha256": meta.get("sha256") or file_sha256(folder / "clip.mp4"), "source": meta["source"],
            "created": meta["created"]})
        meta_file.rename(folder / "meta.adopted.json")  # indexed now; kept for the record
        (folder / "answers.txt").unlink(missing_ok=True)  # those answers were keyed the old way
        adopted += 1
    return adopted
