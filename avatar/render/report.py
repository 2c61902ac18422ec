"""What a render did, frame by frame and stage by stage (shared by both renderers)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

FACE_TOO_SMALL = "face too small"


@dataclass
class RenderReport:
    """frames: frames written; swapped: with the presenter's face; held: unswappable frames
    replaced by a held swapped frame; skipped: why frames could not be swapped; seconds: time
    by stage; duration: seconds of video written."""

    frames: int = 0
    swapped: int = 0
    held: int = 0
    skipped: Counter = field(default_factory=Counter)
    seconds: Counter = field(default_factory=Counter)
    duration: float = 0.0

    def describe(self) -> str:
        text = f"{self.swapped} of {self.frames} frames swapped"
        if self.skipped:
            text += " (" + ", ".join(f"{n} with {reason}" for reason, n in self.skipped.items()) + ")"
        return text
