"""Who is in a face: face_recognition's 128-d embeddings (dlib ResNet, trained on faces of
~7,500 people; distances <= 0.6 usually mean the same person)."""

from __future__ import annotations

from dataclasses import dataclass

import face_recognition
import numpy as np

TOLERANCE = 0.6


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
