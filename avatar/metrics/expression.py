"""Series measures for expression following."""

from __future__ import annotations

import numpy as np


def pearson(x, y) -> float:
    """Pearson correlation of two equal-length series (nan when either is constant)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) != len(y) or len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])
