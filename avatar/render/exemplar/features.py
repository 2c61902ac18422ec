"""Faces compared in one canonical frame: landmark groups, the similarity that removes head
position, size and roll, a speaker's neutral face, and the coarse features retrieval compares.
Landmarks are (68, 2) float (x, y) pixels; canonical ones are in crop-side units."""

from __future__ import annotations

import numpy as np

from avatar.driver.synthesize import STABLE
from avatar.vision import TEMPLATE_68, mouth_opening, transform_points, umeyama

MOUTH = list(range(48, 68))
JAW = list(range(4, 13))
EYES = list(range(36, 48))
BROWS = list(range(17, 27))
EXPRESSIVE = JAW + BROWS + EYES + MOUTH
LOWER_FACE = list(range(2, 15)) + [29]  # cheeks, jaw and chin up to the nose: a mouth's region
NOSE = list(range(27, 36))
POSE = slice(3, 6)  # roll, yaw, pitch in `face_features`


def canonical_matrix(landmarks: np.ndarray) -> np.ndarray:
    """2x3 similarity taking a face's steady points (eye corners, nose) onto the template's, in
    crop-side units (the template's crop is the unit square)."""
    return umeyama(landmarks[STABLE], TEMPLATE_68[STABLE])


def canonical(landmarks: np.ndarray) -> np.ndarray:
    """(N, 68, 2) landmarks in the canonical frame (see `canonical_matrix`), float64."""
    return np.stack([transform_points(p, canonical_matrix(p)) for p in np.asarray(landmarks, np.float64)])


def neutral_face(canon: np.ndarray, quantile: float = 0.05) -> np.ndarray:
    """(68, 2) a speaker's neutral face from (N, 68, 2) canonical landmarks: the median of the
    frames whose mouth is among the least open (`quantile`, at least 3 frames) and, of those, no wider than their
    median (a smile is not neutral; a presenter who smiles half the time would otherwise purse
    his lips whenever the driver rests)."""
    opening = np.array([mouth_opening(p) for p in canon])
    calm = canon[np.argsort(opening)[: max(3, int(np.ceil(quantile * len(canon))))]]
    width = calm[:, 54, 0] - calm[:, 48, 0]
    return np.median(calm[width <= np.median(width)], axis=0)


def descriptors(canon: np.ndarray, pose: np.ndarray) -> dict[str, np.ndarray]:
    """Retrieval features by group, (N, D) float64, from (N, 68, 2) canonical landmarks and
    (N, 3) roll/yaw/pitch. Deliberately coarse (the warp moves every landmark to its target
    afterwards): what retrieval must get right is what a warp cannot make, an open mouth's
    teeth, closed eyes, a turned head; fine shape would only make the path jump more."""
    lips = canon[:, [62, 66], 1]
    outer = canon[:, [51, 57], 1]
    mouth = np.stack([lips[:, 1] - lips[:, 0], outer[:, 1] - outer[:, 0], canon[:, 54, 0] - canon[:, 48, 0]], 1)
    eyes = np.stack([canon[:, [40, 41], 1].mean(1) - canon[:, [37, 38], 1].mean(1),
                     canon[:, [46, 47], 1].mean(1) - canon[:, [43, 44], 1].mean(1)], 1)
    brows = (canon[:, [36, 45], 1].mean(1) - canon[:, BROWS, 1].mean(1))[:, None]
    jaw = canon[:, [8], 1]
    return {"mouth": mouth, "jaw": jaw, "eyes": eyes, "brows": brows, "pose": np.asarray(pose, np.float64)}
