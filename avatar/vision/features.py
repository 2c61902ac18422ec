"""Expression features from 68-point landmarks ((68, 2) float, any pixel scale)."""

from __future__ import annotations

import numpy as np

from avatar.vision.align import eye_centres

_INNER_UPPER = [61, 62, 63]
_INNER_LOWER = [67, 66, 65]


def mouth_opening(landmarks: np.ndarray) -> float:
    """Inner-lip opening divided by the distance between the eye centres (scale-free; ~0 closed,
    ~0.3-0.6 wide open)."""
    landmarks = np.asarray(landmarks, np.float64)
    gap = np.linalg.norm(landmarks[_INNER_UPPER] - landmarks[_INNER_LOWER], axis=1).mean()
    left, right = eye_centres(landmarks)
    return float(gap / max(np.linalg.norm(right - left), 1e-6))
