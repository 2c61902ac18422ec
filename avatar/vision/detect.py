"""Face detection and 68-point landmarks (dlib via face_recognition's model files).

Images are (H, W, 3) uint8 RGB. Boxes are (x0, y0, x1, y1) float pixels, landmarks (68, 2)
float32 (x, y) pixels in the iBUG 300-W order. The 68-point model was trained on iBUG 300-W,
whose images are licensed for non-commercial research only: see assets/PROVENANCE.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import dlib
import face_recognition_models
import numpy as np


@dataclass(frozen=True)
class Detection:
    """A face found by the detector: box (x0, y0, x1, y1) in pixels and the detector's score."""

    box: tuple[float, float, float, float]
    score: float

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


@lru_cache(maxsize=None)
def _hog_detector():
    return dlib.get_frontal_face_detector()


@lru_cache(maxsize=None)
def _cnn_detector():
    return dlib.cnn_face_detection_model_v1(face_recognition_models.cnn_face_detector_model_location())


@lru_cache(maxsize=None)
def _shape_predictor():
    return dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())


def detect_faces(rgb: np.ndarray, detector: str = "hog", upsample: int = 0) -> list[Detection]:
    """All faces in an RGB uint8 image, best-scoring first.

    detector: "hog" (about 7 ms for 400x300 on one core; faces from ~80 px, or ~40 px with
    upsample=1) or "cnn" (dlib's MMOD model: far slower on a CPU, better on turned faces).
    """
    if detector == "hog":
        rects, scores, _ = _hog_detector().run(rgb, upsample, 0.0)
        found = [Detection((r.left(), r.top(), r.right(), r.bottom()), s) for r, s in zip(rects, scores)]
    elif detector == "cnn":
        found = [Detection((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), d.confidence)
                 for d in _cnn_detector()(rgb, upsample)]
    else:
        raise ValueError(f"unknown face detector {detector!r}: use 'hog' or 'cnn'")
    return sorted(found, key=lambda d: -d.score)


def choose_face(faces: list[Detection], width: int, height: int,
                ambiguous_area_ratio: float = 0.5) -> tuple[Detection | None, bool]:
    """Pick the subject among several faces, and say whether the pick is ambiguous.

    The subject is the face with the largest area, discounted by its distance from the image
    centre (a face at a corner counts about half), because the person being recorded is usually
    the biggest face and framed near the middle. The pick is ambiguous when another face has at
    least `ambiguous_area_ratio` of its area and at least half its detector score: then we
    cannot tell who the subject is. (A far weaker detection beside a strong one is nearly always
    a false alarm: the HOG detector scores skimage's astronaut 1.16 and a patch of her suit 0.12.)
    Returns (None, False) when there is no face.
    """
    if not faces:
        return None, False
    centre = np.array([width / 2, height / 2])
    half_diagonal = float(np.hypot(width, height)) / 2

    def weight(face: Detection) -> float:
        x0, y0, x1, y1 = face.box
        off_centre = np.hypot(*(np.array([(x0 + x1) / 2, (y0 + y1) / 2]) - centre)) / half_diagonal
        return face.area * (1 - 0.5 * min(1.0, off_centre))

    ranked = sorted(faces, key=weight, reverse=True)
    chosen = ranked[0]
    ambiguous = any(f.area >= ambiguous_area_ratio * chosen.area and f.score >= 0.5 * chosen.score
                    for f in ranked[1:])
    return chosen, ambiguous


def landmarks_68(rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """(68, 2) float32 landmarks of the face in `box` (about 1 ms a face)."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    shape = _shape_predictor()(rgb, dlib.rectangle(x0, y0, x1, y1))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
