"""The visible disclosure every rendered frame carries."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

TEXT = "AI-generated"


@lru_cache(maxsize=8)
def _badge(width: int, height: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """(badge RGB, alpha, top-left) for a frame size: white text on a dark box, bottom right."""
    scale = max(0.35, min(width, height) / 600)
    thickness = max(1, round(scale * 1.5))
    (tw, th), base = cv2.getTextSize(TEXT, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(3, round(6 * scale))
    box_w, box_h = tw + 2 * pad, th + base + 2 * pad
    badge = np.full((box_h, box_w, 3), 20, np.uint8)
    cv2.putText(badge, TEXT, (pad, pad + th), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    alpha = np.full((box_h, box_w, 1), 0.8, np.float32)
    margin = max(4, round(10 * scale))
    return badge, alpha, (width - box_w - margin, height - box_h - margin)


def add_label(rgb: np.ndarray) -> np.ndarray:
    """Copy of an (H, W, 3) uint8 RGB frame with the "AI-generated" badge in its bottom-right corner."""
    height, width = rgb.shape[:2]
    badge, alpha, (x, y) = _badge(width, height)
    out = rgb.copy()
    region = out[y:y + badge.shape[0], x:x + badge.shape[1]].astype(np.float32)
    out[y:y + badge.shape[0], x:x + badge.shape[1]] = (region + alpha * (badge - region) + 0.5).astype(np.uint8)
    return out
