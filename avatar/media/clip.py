"""The one driver-clip type: what every render takes, whoever made the driver.

A synthesised driver (frames pasted from the driver library, landmarks known) and a recorded or
uploaded video (landmarks found while rendering) both become a `DriverClip`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from avatar.media.decode import Frame, iter_frames
from avatar.media.normalize import NormalizedVideo


@dataclass(frozen=True)
class DriverClip:
    """frames(): a fresh iterator over the clip's frames ((H, W, 3) uint8 RGB, in order);
    landmarks: (68, 2) float32 frame-pixel landmarks per frame when known, else None (faces are
    then tracked while rendering); audio: a WAV/AAC file for the sound track, or None (silent).
    kind: "synthesised", "recorded" or "video" (what the driver is, for reports). cut_from: for a
    synthesised clip, (library folder, base (n,), mouth (n,)): the frame library it was cut from
    and, per frame, the library frames giving its head and its mouth (a renderer drawing from
    that same library can take them as they are). voice: who speaks its sound, as its videos'
    credentials state it (`speech.voices.disclosure`), or None (silent, or not stated)."""

    frames: Callable[[], Iterator[Frame]]
    landmarks: Sequence[np.ndarray] | None
    fps: float
    width: int
    height: int
    frame_count: int
    duration: float
    audio: Path | None
    kind: str
    cut_from: tuple[Path, np.ndarray, np.ndarray] | None = None
    voice: dict | None = None

    @classmethod
    def from_video(cls, video: NormalizedVideo, audio: Path | None = None, kind: str = "video",
                   use_own_sound: bool = True) -> DriverClip:
        """A normalised video as a driver; its own sound unless `audio` is given (or
        `use_own_sound` is False)."""
        info = video.info
        sound = audio if audio is not None else (video.audio if use_own_sound else None)
        return cls(lambda: iter_frames(video.video), None, info.fps, info.width, info.height, info.frames,
                   info.duration, sound, kind)

    @classmethod
    def from_arrays(cls, frames: Callable[[], Iterator[np.ndarray]], landmarks: np.ndarray | None, fps: float,
                    width: int, height: int, frame_count: int, audio: Path | None, kind: str,
                    cut_from: tuple[Path, np.ndarray, np.ndarray] | None = None) -> DriverClip:
        """Frames made in memory (e.g. a synthesised driver), numbered and timed at `fps`."""
        def numbered() -> Iterator[Frame]:
            return (Frame(i, i / fps, rgb) for i, rgb in enumerate(frames()))

        return cls(numbered, landmarks, fps, width, height, frame_count, frame_count / fps, audio, kind, cut_from)

    def retimed(self, duration: float) -> DriverClip:
        """The same frames spread over `duration` seconds (some shown twice or skipped, evenly:
        a take fitted to a line spoken at another pace); the sound is not changed."""
        count = max(1, int(round(duration * self.fps)))
        if count == self.frame_count:
            return self
        source_of = np.minimum((np.arange(count) * self.frame_count) // count, self.frame_count - 1)
        fps, frames = self.fps, self.frames

        def spread() -> Iterator[Frame]:
            k = 0
            for i, frame in enumerate(frames()):
                while k < count and source_of[k] == i:
                    yield Frame(k, k / fps, frame.rgb)
                    k += 1
                if k == count:
                    return
        landmarks = None if self.landmarks is None else [self.landmarks[i] for i in source_of]
        return replace(self, frames=spread, landmarks=landmarks, frame_count=count, duration=count / fps,
                       cut_from=None)
