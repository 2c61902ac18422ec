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
    margin = max(4, round(10 * scale))
    room = max(8, width - 2 * margin), max(4, height - 2 * margin)
    if box_w > room[0] or box_h > room[1]:  # a tiny frame: shrink the badge to fit it
        factor = min(room[0] / box_w, room[1] / box_h)
        box_w, box_h = max(1, int(box_w * factor)), max(1, int(box_h * factor))
        badge = cv2.resize(badge, (box_w, box_h), interpolation=cv2.INTER_AREA)
        margin = min(margin, (width - box_w) // 2, (height - box_h) // 2)
    alpha = np.full((box_h, box_w, 1), 0.8, np.float32)
    return badge, alpha, (max(0, width - box_w - margin), max(0, height - box_h - margin))


def add_label(rgb: np.ndarray) -> np.ndarray:
    """Copy of an (H, W, 3) uint8 RGB frame with the "AI-generated" badge in its bottom-right corner."""
    height, width = rgb.shape[:2]
    badge, alpha, (x, y) = _badge(width, height)
    out = rgb.copy()
    region = out[y:y + badge.shape[0], x:x + badge.shape[1]].astype(np.float32)
    out[y:y + badge.shape[0], x:x + badge.shape[1]] = (region + alpha * (badge - region) + 0.5).astype(np.uint8)
    return out
