"""Expression features from 68-point landmarks ((68, 2) float, any pixel scale)."""

from __future__ import annotations

import numpy as np

from avatar.vision.align import eye_centres

_INNER_UPPER = [61, 62, 63]
_INNER_LOWER = [67, 66, 65]
# Each eye's six points in the 68-point scheme: outer corner, two upper lid, inner corner, two lower lid.
_EYES = ([36, 37, 38, 39, 40, 41], [42, 43, 44, 45, 46, 47])


def mouth_opening(landmarks: np.ndarray) -> float:
    """Inner-lip opening divided by the distance between the eye centres (scale-free; ~0 closed,
    ~0.3-0.6 wide open)."""
    landmarks = np.asarray(landmarks, np.float64)
    gap = np.linalg.norm(landmarks[_INNER_UPPER] - landmarks[_INNER_LOWER], axis=1).mean()
    left, right = eye_centres(landmarks)
    return float(gap / max(np.linalg.norm(right - left), 1e-6))


def eye_opening(landmarks: np.ndarray) -> float:
    """Eye aspect ratio, both eyes averaged: mean lid gap over corner-to-corner width (scale-free;
    ~0.3 open, under ~0.15 closed or nearly so)."""
    return float(np.mean(_eye_ratios(np.asarray(landmarks, np.float64))))


def _eye_ratios(points: np.ndarray) -> list[float]:
    """Each eye's aspect ratio: mean lid gap over corner-to-corner width."""
    ratios = []
    for corner_out, up_1, up_2, corner_in, down_2, down_1 in _EYES:
        gap = np.linalg.norm(points[up_1] - points[down_1]) + np.linalg.norm(points[up_2] - points[down_2])
        ratios.append(gap / (2 * max(np.linalg.norm(points[corner_out] - points[corner_in]), 1e-6)))
    return ratios


EXPRESSION_FEATURES = ("mouth_opening", "mouth_width", "smile", "eye_left", "eye_right", "brow_left", "brow_right")


def expression_vector(landmarks: np.ndarray) -> np.ndarray:
    """(7,) float64 expression features, scale-free (lengths over the eye-centre distance), in the
    order of EXPRESSION_FEATURES: inner-lip opening, mouth width, corner lift (smile > 0), each
    eye's aspect ratio, and each brow's height above its eye. Head pose is not in it (beyond what
    leaks into 2-D distances), so it compares expressions of faces aligned the same way."""
    points = np.asarray(landmarks, np.float64)
    left, right = eye_centres(points)
    scale = max(np.linalg.norm(right - left), 1e-6)
    mouth_width = np.linalg.norm(points[54] - points[48]) / scale
    corners, centre = (points[48, 1] + points[54, 1]) / 2, (points[51, 1] + points[57, 1]) / 2
    eyes = _eye_ratios(points)
    brows = [(points[eye].mean(0)[1] - points[brow].mean(0)[1]) / scale
             for brow, eye in ((slice(17, 22), slice(36, 42)), (slice(22, 27), slice(42, 48)))]
    return np.array([mouth_opening(points), mouth_width, (centre - corners) / scale, *eyes, *brows])
