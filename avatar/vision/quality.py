"""Image quality scores for aligned face crops."""

from __future__ import annotations

import cv2
import numpy as np

SCORE_SIZE = 128  # crops are scored at this size so one threshold serves every crop size


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian over the inner face of an aligned crop (higher = sharper).

    crop: (S, S, 3) uint8 whole-face crop from `align_face` (any colour order). Measured at
    128 px over the eyes-to-mouth region, so hair and background do not count. Typical values:
    a motion-blurred or badly defocused face scores under ~20, sharp webcam faces 40-300.
    """
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    if gray.shape[0] != SCORE_SIZE:
        interpolation = cv2.INTER_AREA if gray.shape[0] > SCORE_SIZE else cv2.INTER_CUBIC
        gray = cv2.resize(gray, (SCORE_SIZE, SCORE_SIZE), interpolation=interpolation)
    inner = gray[SCORE_SIZE * 25 // 100:SCORE_SIZE * 80 // 100, SCORE_SIZE * 20 // 100:SCORE_SIZE * 80 // 100]
    return float(cv2.Laplacian(inner, cv2.CV_32F).var())
