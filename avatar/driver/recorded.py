"""Recorded driver clips: a person's own recording of a reply, used instead of a synthesised one.

Clips are keyed by the reply's normalised text (case, spacing and punctuation ignored). Each
lives in its own folder, written in full beside the library and renamed into place, so a crash
or a refused upload never leaves half a clip and never loses the clip it would replace:
    <root>/<key>/clip.mp4    normalised video (constant frame rate, upright, even size)
    <root>/<key>/audio.wav   the recorded sound, when there is any
    <root>/<key>/meta.json   text, duration, frames, fps, has_audio, source, created, sha256,
                             face_share (sampled frames with a swappable face)
    <root>/<key>/answers.txt answer videos rendered from this clip (deleted with it)
A clip whose face the renderer could not swap (none found, or too small) is refused at save:
otherwise its "presenter version" would be the recording's own face.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from avatar.config import MediaLimits, RenderConfig
from avatar.errors import UserError
from avatar.media import normalize, read_frames
from avatar.paths import atomic_folder, file_sha256
from avatar.vision import choose_face, detect_faces

_WORDS = re.compile(r"[^\W_]+")


def clip_key(text: str) -> str:
    """Folder name for a reply text: a hash of its lower-cased words."""
    words = " ".join(_WORDS.findall(text.lower()))
    if not words:
        raise UserError("a recorded clip needs the text it answers with (it was empty).")
    return hashlib.sha256(words.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class RecordedClip:
    text: str
    video: Path
    audio: Path | None
    duration: float
    fps: float
    source: str
    created: str
    sha256: str = ""

    @property
    def folder(self) -> Path:
        return self.video.parent


def face_share(video: Path, frames: int, config: RenderConfig = RenderConfig(), samples: int = 10) -> float:
    """Share of `samples` evenly spaced frames of `video` in which the renderer would find a
    face at least `config.min_face` pixels wide (same detector settings as rendering)."""
    indices = sorted({int(i) for i in np.linspace(0, max(frames - 1, 0), samples).round()})
    found = 0
    for rgb in read_frames(video, indices).values():
        faces = detect_faces(rgb, config.track.detector, config.track.upsample)
        face, _ = choose_face(faces, rgb.shape[1], rgb.shape[0])
        if face is not None and face.box[2] - face.box[0] >= config.min_face:
            found += 1
    return found / len(indices)


class RecordedClips:
    """The clip library in `root` (created on first save)."""

    def __init__(self, root: Path, limits: MediaLimits = MediaLimits(max_seconds=300, max_bytes=500 * 1024**2),
                 render: RenderConfig = RenderConfig(), min_face_share: float = 0.8):
        self.root, self.limits = Path(root), limits
        self.render, self.min_face_share = render, min_face_share

    def save(self, text: str, video: Path, source: str = "upload") -> RecordedClip:
        """Validate and store `video` as the recording of `text` (replacing an older one and the
        answers rendered from it). UserError when it is not a usable video or its face could
        not be swapped."""
        final = self.root / clip_key(text)
        self.root.mkdir(parents=True, exist_ok=True)
        # Written in full beside the old clip, which is replaced only once this one is complete.
        with atomic_folder(final) as staging:
            normal = normalize(video, staging / "work", self.limits)
            if normal.video.parent == staging / "work":  # transcoded: move it
                os.replace(normal.video, staging / "clip.mp4")
            else:  # already normal: the upload itself is kept
                shutil.copyfile(normal.video, staging / "clip.mp4")
            if normal.audio is not None:
                os.replace(normal.audio, staging / "audio.wav")
            shutil.rmtree(staging / "work", ignore_errors=True)
            share = face_share(staging / "clip.mp4", normal.info.frames, self.render)
            if share < self.min_face_share:
                raise UserError(f"the presenter cannot be put into this recording: a face large enough to swap was "
                                f"found in only {share:.0%} of it. Face the camera from closer, in good light (the "
                                f"face must be at least {self.render.min_face} pixels wide, and faces under about "
                                "80 pixels are not found), and record again.")
            meta = {"text": text, "duration": round(normal.info.duration, 3), "frames": normal.info.frames,
                    "fps": normal.info.fps, "has_audio": normal.audio is not None, "source": source,
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "sha256": file_sha256(staging / "clip.mp4"), "face_share": share}
            (staging / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
            if final.exists():
                self._delete_answers(final)  # answers of the clip being replaced
        return self._load(final)

    def get(self, text: str) -> RecordedClip | None:
        """The recording for `text`, or None."""
        try:
            folder = self.root / clip_key(text)
        except UserError:
            return None
        return self._load(folder) if (folder / "meta.json").is_file() else None

    def delete(self, text: str) -> bool:
        """Delete the recording of `text` and every answer rendered from it."""
        folder = self.root / clip_key(text)
        if not folder.exists():
            return False
        self._delete_answers(folder)
        shutil.rmtree(folder)
        return True

    @staticmethod
    def note_answer(clip: RecordedClip, answer: Path) -> None:
        """Remember that `answer` was rendered from `clip` (deleted with it)."""
        with open(clip.folder / "answers.txt", "a") as f:
            f.write(f"{Path(answer).resolve()}\n")

    @staticmethod
    def answers(folder: Path) -> list[Path]:
        listed = Path(folder) / "answers.txt"
        return [Path(line) for line in listed.read_text().splitlines() if line] if listed.is_file() else []

    def _delete_answers(self, folder: Path) -> None:
        for answer in self.answers(folder):
            for path in (answer, answer.with_suffix(".json")):
                path.unlink(missing_ok=True)

    def all(self) -> list[RecordedClip]:
        if not self.root.is_dir():
            return []
        return sorted((self._load(f) for f in self.root.iterdir() if (f / "meta.json").is_file()),
                      key=lambda clip: clip.created)

    @staticmethod
    def _load(folder: Path) -> RecordedClip:
        meta = json.loads((folder / "meta.json").read_text())
        audio = folder / "audio.wav"
        return RecordedClip(meta["text"], folder / "clip.mp4", audio if audio.is_file() else None, meta["duration"],
                            meta["fps"], meta["source"], meta["created"], meta.get("sha256", ""))
