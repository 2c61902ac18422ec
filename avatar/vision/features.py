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
    landmarks = np.asarray(landmarks, np.float64)
    ratios = []
    for corner_out, up_1, up_2, corner_in, down_2, down_1 in _EYES:
        gap = (np.linalg.norm(landmarks[up_1] - landmarks[down_1]) + np.linalg.norm(landmarks[up_2] - landmarks[down_2]))
        ratios.append(gap / (2 * max(np.linalg.norm(landmarks[corner_out] - landmarks[corner_in]), 1e-6)))
    return float(np.mean(ratios))
