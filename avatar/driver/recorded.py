"""Recorded driver clips: a person's own recording of a reply, used instead of a synthesised one.

Clips are keyed by the reply's normalised text (case, spacing and punctuation ignored). Each
lives in its own folder, written in full beside the library and renamed into place, so a crash
or a refused upload never leaves half a clip and never loses the clip it would replace:
    <root>/<key>/clip.mp4    normalised video (constant frame rate, upright, even size)
    <root>/<key>/audio.wav   the recorded sound, when there is any
    <root>/<key>/meta.json   text, duration, frames, fps, has_audio, source, created
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

from avatar.config import MediaLimits
from avatar.errors import UserError
from avatar.media import normalize

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


class RecordedClips:
    """The clip library in `root` (created on first save)."""

    def __init__(self, root: Path, limits: MediaLimits = MediaLimits(max_seconds=300, max_bytes=500 * 1024**2)):
        self.root, self.limits = Path(root), limits

    def save(self, text: str, video: Path, source: str = "upload") -> RecordedClip:
        """Validate and store `video` as the recording of `text` (replacing an older one)."""
        key = clip_key(text)
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".{key}.{os.getpid()}.saving"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            normal = normalize(video, staging / "work", self.limits)
            if normal.video.parent == staging / "work":  # transcoded: move it
                os.replace(normal.video, staging / "clip.mp4")
            else:  # already normal: the upload itself is kept
                shutil.copyfile(normal.video, staging / "clip.mp4")
            if normal.audio is not None:
                os.replace(normal.audio, staging / "audio.wav")
            shutil.rmtree(staging / "work", ignore_errors=True)
            meta = {"text": text, "duration": round(normal.info.duration, 3), "frames": normal.info.frames,
                    "fps": normal.info.fps, "has_audio": normal.audio is not None, "source": source,
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            (staging / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
            final = self.root / key
            if final.exists():  # keep the old clip until the new one is complete, then swap
                old = self.root / f".{key}.{os.getpid()}.old"
                os.replace(final, old)
                os.replace(staging, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self._load(final)

    def get(self, text: str) -> RecordedClip | None:
        """The recording for `text`, or None."""
        try:
            folder = self.root / clip_key(text)
        except UserError:
            return None
        return self._load(folder) if (folder / "meta.json").is_file() else None

    def delete(self, text: str) -> bool:
        folder = self.root / clip_key(text)
        if not folder.exists():
            return False
        shutil.rmtree(folder)
        return True

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
                            meta["fps"], meta["source"], meta["created"])
