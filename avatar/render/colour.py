"""Colour transfer: make the swapped face's colours match the driver's face in its frame.

Every method shares one signature, `transfer(face, reference, mask) -> face`, on (S, S, 3)
uint8 RGB crops and an (S, S) float mask in [0, 1] that selects the pixels whose statistics
count. `ColourMatcher` adds temporal smoothing of the *reference* statistics across frames (not
the pixels), so per-frame jitter of the driver's crop (detector, mouth opening, compression)
does not make the skin tone flicker. The swapped face's own statistics stay per frame, so the
transfer also cancels any frame-to-frame colour drift of the model's output.
"""

from __future__ import annotations

import cv2
import numpy as np

METHODS = ("rct", "lct", "none")
MAX_SCALE = 1.25  # RCT stretches or shrinks each Lab channel's spread by at most this factor


def _weighted_stats(pixels: np.ndarray, weights: np.ndarray):
    """Mean (3,) and covariance (3, 3) of (P, 3) pixels under (P,) weights."""
    w = weights / max(weights.sum(), 1e-6)
    mean = w @ pixels
    centred = pixels - mean
    return mean, (centred * w[:, None]).T @ centred


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)


def _sqrtm(cov: np.ndarray, inverse: bool = False) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov + 1e-6 * np.eye(3))
    values = np.maximum(values, 1e-8) ** (-0.5 if inverse else 0.5)
    return (vectors * values) @ vectors.T


class ColourMatcher:
    """Stateful colour transfer for one video. smoothing in [0, 1): weight of the past in an
    exponential moving average of the statistics (0 = every frame on its own)."""

    def __init__(self, method: str = "rct", smoothing: float = 0.0):
        if method not in METHODS:
            raise ValueError(f"unknown colour transfer {method!r}: use one of {', '.join(METHODS)}")
        if not 0 <= smoothing < 1:
            raise ValueError("smoothing must be in [0, 1)")
        self.method, self.smoothing = method, smoothing
        self._state = None

    def reset(self) -> None:
        self._state = None

    def __call__(self, face: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.method == "none":
            return face
        weights = mask.reshape(-1).astype(np.float64)
        if weights.sum() < 16:
            return face
        # RCT works per channel in Lab (Reinhard et al. 2001); LCT matches the full RGB covariance.
        space = _lab if self.method == "rct" else (lambda x: x.astype(np.float32) / 255)
        face_px, ref_px = space(face).reshape(-1, 3), space(reference).reshape(-1, 3)
        face_mean, face_cov = _weighted_stats(face_px, weights)
        ref_mean, ref_cov = _weighted_stats(ref_px, weights)
        if self._state is not None and self.smoothing > 0:
            ref_mean = self.smoothing * self._state[0] + (1 - self.smoothing) * ref_mean
            ref_cov = self.smoothing * self._state[1] + (1 - self.smoothing) * ref_cov
        self._state = (ref_mean, ref_cov)
        if self.method == "rct":
            scale = np.sqrt(np.maximum(np.diag(ref_cov), 1e-8) / np.maximum(np.diag(face_cov), 1e-8))
            # A soft swapped face has less variance than the driver's textured skin: matching it
            # in full would stretch the face's broad shading (eye sockets darkest) into bruises.
            scale = np.clip(scale, 1 / MAX_SCALE, MAX_SCALE)
            out = (face_px - face_mean) * scale + ref_mean
            out = cv2.cvtColor(out.reshape(face.shape).astype(np.float32), cv2.COLOR_LAB2RGB)
        else:
            transform = _sqrtm(face_cov, inverse=True) @ _sqrtm(ref_cov)
            out = ((face_px - face_mean) @ transform + ref_mean).reshape(face.shape)
        return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def transfer(face: np.ndarray, reference: np.ndarray, mask: np.ndarray, method: str = "rct") -> np.ndarray:
    """One-off colour transfer of `face` towards `reference` (no temporal state)."""
    return ColourMatcher(method)(face, reference, mask)
