"""Expression measures from 68-point landmarks ((68, 2) float, any pixel scale)."""

from __future__ import annotations

import numpy as np

from avatar.vision import eye_centres

_INNER_UPPER = [61, 62, 63]
_INNER_LOWER = [67, 66, 65]


def mouth_opening(landmarks: np.ndarray) -> float:
    """Inner-lip opening divided by the distance between the eye centres (scale-free; ~0 closed,
    ~0.3-0.6 wide open)."""
    landmarks = np.asarray(landmarks, np.float64)
    gap = np.linalg.norm(landmarks[_INNER_UPPER] - landmarks[_INNER_LOWER], axis=1).mean()
    left, right = eye_centres(landmarks)
    return float(gap / max(np.linalg.norm(right - left), 1e-6))


def pearson(x, y) -> float:
    """Pearson correlation of two equal-length series (nan when either is constant)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) != len(y) or len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])
