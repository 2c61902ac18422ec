"""Following one face through a video: detect every few frames, track landmarks in between.

Full detection costs ~7 ms a 400x300 frame, landmarks ~1 ms, so between detections the
detector's box is carried along by the face's own motion (the similarity transform between the
landmarks at the last detection and those of the previous frame) and only landmarks are
predicted. A tracked result that no longer fits its box triggers a fresh detection at once.
Landmarks are smoothed with a one-euro filter: steady when the face is still, little lag when
it moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar.config import TrackConfig
from avatar.vision.align import alignment_matrix, matrix_scale, transform_points, umeyama, warp_to_crop
from avatar.vision.detect import Detection, choose_face, detect_faces, landmarks_68

NO_FACE = "no face"
SEVERAL_FACES = "several faces"


@dataclass(frozen=True)
class TrackedFace:
    """One frame's face: (68, 2) float32 smoothed landmarks in frame pixels, the detector-style
    box (x0, y0, x1, y1) they were predicted in, and whether the detector ran on this frame."""

    landmarks: np.ndarray
    box: tuple[float, float, float, float]
    detected: bool


class OneEuroFilter:
    """One-euro low-pass filter over arrays of any shape (Casiez, Roussel and Vogel, CHI 2012).

    The cutoff frequency rises with the signal's speed: cutoff = min_cutoff + beta * |speed|.
    """

    def __init__(self, min_cutoff: float, beta: float, derivative_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.derivative_cutoff = min_cutoff, beta, derivative_cutoff
        self.reset()

    def reset(self) -> None:
        self._value = self._speed = self._time = None

    @staticmethod
    def _alpha(dt: float, cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, value: np.ndarray, time: float) -> np.ndarray:
        value = np.asarray(value, np.float64)
        if self._value is None or self.min_cutoff <= 0:
            self._value, self._speed, self._time = value, np.zeros_like(value), time
            return value
        dt = max(time - self._time, 1e-3)
        a = self._alpha(dt, self.derivative_cutoff)
        self._speed = a * (value - self._value) / dt + (1 - a) * self._speed
        a = self._alpha(dt, self.min_cutoff + self.beta * np.abs(self._speed))
        self._value = a * value + (1 - a) * self._value
        self._time = time
        return self._value


_PATCH = 32  # side of the small grey aligned patch used to check that a tracked face is still there


def _face_patch(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-norm (32*32,) grey patch of the aligned face (all zeros for a flat image)."""
    patch = warp_to_crop(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), alignment_matrix(landmarks, _PATCH), _PATCH)
    flat = patch.astype(np.float32).ravel()
    flat -= flat.mean()
    norm = np.linalg.norm(flat)
    return flat / norm if norm > 1e-3 else flat


def _box_fit(landmarks: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Landmark centre offset and spread relative to the box, as box-size fractions (3,)."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0, 1.0)
    centre = landmarks.mean(0)
    spread = landmarks.std(0).mean()
    return np.array([(centre[0] - (x0 + x1) / 2) / side, (centre[1] - (y0 + y1) / 2) / side, spread / side])


def find_faces(rgb: np.ndarray, config: TrackConfig) -> list[Detection]:
    """The faces in an RGB uint8 frame as the renderer looks for them, best-scoring first: the
    detector at `config.upsample`, and once more with one step of upsampling when nothing was
    found in a frame at most `config.small_frame` pixels wide (faces from about 40 px)."""
    faces = detect_faces(rgb, config.detector, config.upsample)
    if not faces and not config.upsample and rgb.shape[1] <= config.small_frame:
        faces = detect_faces(rgb, config.detector, 1)
    return faces


class FaceTracker:
    """Stateful per-video tracker. Feed frames in order with `update`; `reset` between videos.

    Frames more than `config.max_gap_seconds` apart (skipped or sparse frames) are not tracked
    across: the detector runs again.
    """

    def __init__(self, config: TrackConfig = TrackConfig()):
        self.config = config
        self._smoother = OneEuroFilter(config.smooth_min_cutoff, config.smooth_beta)
        self.reset()

    def reset(self) -> None:
        self._reference = None  # (box, raw landmarks, fit, patch) at the last detection
        self._previous = None  # raw landmarks of the previous frame
        self._previous_time = None
        self._since_detection = 0
        self._smoother.reset()

    def update(self, rgb: np.ndarray, time: float) -> tuple[TrackedFace | None, str | None]:
        """Face in this RGB uint8 frame at `time` seconds: (face, None) or (None, reason)."""
        if self._previous_time is not None and time - self._previous_time > self.config.max_gap_seconds:
            self.reset()
        self._previous_time = time

        tracked = self._track(rgb) if self._reference is not None else None
        if tracked is not None:
            box, raw = tracked
            detected = False
            self._since_detection += 1
        else:
            faces = find_faces(rgb, self.config)
            chosen, ambiguous = choose_face(faces, rgb.shape[1], rgb.shape[0], self.config.ambiguous_area_ratio)
            if chosen is None or ambiguous:
                self.reset()
                self._previous_time = time
                return None, SEVERAL_FACES if ambiguous else NO_FACE
            box, raw = chosen.box, landmarks_68(rgb, chosen.box)
            if self._previous is not None and self._jumped(raw, box):
                self._smoother.reset()  # another face, or a cut: do not blend across it
            self._reference = (box, raw, _box_fit(raw, box), _face_patch(rgb, raw))
            self._since_detection = 0
            detected = True
        self._previous = raw
        smoothed = self._smoother(raw, time).astype(np.float32)
        return TrackedFace(smoothed, tuple(float(v) for v in box), detected), None

    def _track(self, rgb: np.ndarray):
        """(box, landmarks) carried from the previous frame, or None when a detection is due."""
        if self._since_detection + 1 >= self.config.detect_every:
            return None
        ref_box, ref_landmarks, ref_fit, ref_patch = self._reference
        motion = umeyama(ref_landmarks, self._previous)
        # The detector's boxes are upright, so carry only the box's centre and size.
        x0, y0, x1, y1 = ref_box
        (cx, cy), = transform_points(np.array([[(x0 + x1) / 2, (y0 + y1) / 2]]), motion)
        half_w, half_h = matrix_scale(motion) * (x1 - x0) / 2, matrix_scale(motion) * (y1 - y0) / 2
        box = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
        landmarks = landmarks_68(rgb, box)
        # Landmarks that drifted within their box (face lost, occluded, turned away) no longer
        # fit the way they did at detection time.
        if np.abs(_box_fit(landmarks, box) - ref_fit).max() > 0.08:
            return None
        # The landmark model always answers, even on a blank frame: check that the face region
        # still looks like the face found by the detector (normalised cross-correlation).
        if float(_face_patch(rgb, landmarks) @ ref_patch) < self.config.min_track_similarity:
            return None
        return box, landmarks

    def _jumped(self, landmarks: np.ndarray, box) -> bool:
        side = max(box[2] - box[0], box[3] - box[1], 1.0)
        return float(np.linalg.norm(landmarks.mean(0) - self._previous.mean(0))) > 0.5 * side
