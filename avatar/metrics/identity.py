"""Who is in a face: face_recognition's 128-d embeddings (dlib ResNet, trained on faces of
~7,500 people; distances <= 0.6 usually mean the same person)."""

from __future__ import annotations

from dataclasses import dataclass

import face_recognition
import numpy as np

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

    @classmethod
    def from_spread(cls, name: str, embeddings: np.ndarray, count: int = REFERENCE_FACES) -> IdentityReference:
        """The reference from `count` of (N, 128) `embeddings` evenly spread over them."""
        picks = np.linspace(0, len(embeddings) - 1, min(count, len(embeddings))).round().astype(int)
        return cls.from_embeddings(name, list(np.asarray(embeddings)[picks]))

    def distance(self, embedding: np.ndarray) -> float:
        return float(np.linalg.norm(embedding - self.mean))

    def matches(self, embedding: np.ndarray, tolerance: float = TOLERANCE) -> bool:
        return self.distance(embedding) <= tolerance
