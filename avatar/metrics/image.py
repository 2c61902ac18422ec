"""Image measures on uint8 RGB arrays."""

from __future__ import annotations

import cv2
import numpy as np


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two same-size uint8 images (grey, Gaussian window sigma 1.5; 1 = identical)."""
    x, y = (cv2.cvtColor(i, cv2.COLOR_RGB2GRAY).astype(np.float64) / 255 if i.ndim == 3 else i / 255.0
            for i in (a, b))
    c1, c2 = 0.01**2, 0.03**2

    def blur(t):
        return cv2.GaussianBlur(t, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s[5:-5, 5:-5].mean())


def face_flicker(crops: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """Temporal colour flicker: mean absolute change of the face's mean Lab colour between
    consecutive frames (Lab units; lower is steadier). crops: aligned (S, S, 3) uint8 RGB;
    masks: (S, S) in [0, 1] selecting the face."""
    means = []
    for crop, mask in zip(crops, masks):
        lab = cv2.cvtColor(crop.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
        means.append(lab[mask > 0.5].mean(0))
    if len(means) < 2:
        return float("nan")
    return float(np.abs(np.diff(np.array(means), axis=0)).sum(1).mean())
