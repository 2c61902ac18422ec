"""Who is in a face: face_recognition's 128-d embeddings (dlib ResNet, trained on faces of
~7,500 people; distances <= 0.6 usually mean the same person)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import face_recognition
import numpy as np

from avatar.dataset import load_faces

TOLERANCE = 0.6
# A person's reference is the mean embedding of this many of their faces, evenly spread over
# their set (every identity check in the project uses the same rule).
REFERENCE_FACES = 40


def face_embedding(rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """(128,) float64 embedding of the face in `box` (x0, y0, x1, y1) of an RGB uint8 image."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return face_recognition.face_encodings(rgb, [(y0, x1, y1, x0)], model="large")[0]


@dataclass(frozen=True)
class IdentityReference:
    """A person as the mean of several embeddings of their face."""

    name: str
    mean: np.ndarray  # (128,)
    count: int

    @classmethod
    def from_embeddings(cls, name: str, embeddings: list[np.ndarray]) -> IdentityReference:
        if not embeddings:
            raise ValueError(f"no face embeddings for {name}")
        return cls(name, np.mean(embeddings, axis=0), len(embeddings))

    def distance(self, embedding: np.ndarray) -> float:
        return float(np.linalg.norm(embedding - self.mean))

    def matches(self, embedding: np.ndarray, tolerance: float = TOLERANCE) -> bool:
        return self.distance(embedding) <= tolerance


def reference_from_folder(name: str, folder: Path, count: int = REFERENCE_FACES) -> IdentityReference:
    """The person of a dataset folder: the mean embedding of `count` of its crops evenly spread
    over it, each face boxed by its own landmarks (no detection, so small crops work too)."""
    faces = load_faces(name, folder, max_faces=count)
    return IdentityReference.from_embeddings(name, [face_embedding(crop, (*points.min(0), *points.max(0)))
                                                    for crop, points in zip(faces.crops, faces.landmarks)])
