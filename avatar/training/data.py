"""Training data: face sets written by `avatar extract`, and their augmentation.

Images are (N, S, S, 3) uint8 RGB in memory; batches are NCHW float32 tensors in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from avatar.dataset import load_faces
from avatar.training.config import AugmentConfig
from avatar.vision import FLIP_68, hull_mask, transform_points

# Regions that carry expression: the eyes (36-47) and the mouth (48-67).
_EYES = (slice(36, 42), slice(42, 48))
_MOUTH = slice(48, 68)


@dataclass
class TrainingFaces:
    """One person's aligned faces at training size S, with the masks training weighs them by.

    images: (N, S, S, 3) uint8 RGB. masks: (N, S, S) uint8 face hull (255 inside).
    detail: (N, S, S) uint8 eyes-and-mouth region (255 inside). landmarks: (N, 68, 2) float32.
    """

    images: np.ndarray
    masks: np.ndarray
    detail: np.ndarray
    landmarks: np.ndarray
    folder: Path

    def __len__(self) -> int:
        return len(self.images)


def _region_mask(points: np.ndarray, size: int, grow: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    for region in (*_EYES, _MOUTH):
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points[region]).astype(np.int32)), 255)
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))


def load_faceset(folder: Path, size: int, max_faces: int | None = None) -> TrainingFaces:
    """The faces of an extract folder at `size` px (see `avatar.dataset.load_faces`), evenly
    thinned to `max_faces` when given, with their face and eyes-and-mouth masks."""
    faces = load_faces(Path(folder).name, folder, size, max_faces=max_faces)
    masks = [(hull_mask(points, size, size) * 255).astype(np.uint8) for points in faces.landmarks]
    detail = [_region_mask(points, size, grow=max(1, size // 32)) for points in faces.landmarks]
    return TrainingFaces(faces.crops, np.stack(masks), np.stack(detail), faces.landmarks, Path(folder))


def _random_warp_maps(rng: np.random.Generator, size: int, strength: float):
    """Dense remap grids from a smooth random displacement of a coarse 5x5 grid."""
    coarse = rng.normal(0, strength * size, (2, 5, 5)).astype(np.float32)
    coarse[:, [0, -1], :] = 0  # keep the border in place
    coarse[:, :, [0, -1]] = 0
    dx, dy = (cv2.resize(c, (size, size), interpolation=cv2.INTER_CUBIC) for c in coarse)
    grid_x, grid_y = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
    return grid_x + dx, grid_y + dy


def augment(faces: TrainingFaces, indices: np.ndarray, rng: np.random.Generator, config: AugmentConfig):
    """A batch: (warped inputs, targets, masks, detail, landmarks) as float32 arrays.

    inputs/targets: (B, 3, S, S) in [0, 1]; masks/detail: (B, 1, S, S) in [0, 1]; landmarks:
    (B, 68, 2) crop pixels of the target. Targets, masks and landmarks share the input's random
    pose change; only the inputs are also randomly warped, so the model must re-draw a face
    rather than copy pixels.
    """
    size = faces.images.shape[1]
    out_in, out_target, out_mask, out_detail, out_points = [], [], [], [], []
    for i in indices:
        angle = rng.uniform(-config.rotation, config.rotation)
        scale = 1 + rng.uniform(-config.scale, config.scale)
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
        matrix[:, 2] += rng.uniform(-config.shift, config.shift, 2) * size
        flipped = rng.random() < config.flip
        if flipped:
            matrix = np.array([[-1, 0, size - 1], [0, 1, 0]], np.float64) @ np.vstack([matrix, [0, 0, 1]])
        points = transform_points(faces.landmarks[i], matrix)
        out_points.append(points[FLIP_68] if flipped else points)  # a mirrored left eye is a right eye
        target = _pose(faces.images[i], matrix).astype(np.float32) / 255
        target = _jitter_colour(target, rng, config.colour)
        map_x, map_y = _random_warp_maps(rng, size, config.warp)
        warped = cv2.remap(target, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out_in.append(warped.transpose(2, 0, 1))
        out_target.append(target.transpose(2, 0, 1))
        out_mask.append(_pose(faces.masks[i], matrix)[None].astype(np.float32) / 255)
        out_detail.append(_pose(faces.detail[i], matrix)[None].astype(np.float32) / 255)
    return tuple(np.ascontiguousarray(np.stack(a), dtype=np.float32)
                 for a in (out_in, out_target, out_mask, out_detail, out_points))


def _pose(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 pose change to a square image, keeping its size."""
    size = image.shape[0]
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _jitter_colour(image: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Random brightness, contrast and saturation change of an (S, S, 3) float image in [0, 1]."""
    if amount <= 0:
        return image
    grey = image.mean(2, keepdims=True)
    image = grey + (image - grey) * (1 + rng.uniform(-amount, amount) * 2)  # saturation
    image = (image - image.mean()) * (1 + rng.uniform(-amount, amount)) + image.mean()  # contrast
    return np.clip(image + rng.uniform(-amount, amount), 0, 1)  # brightness
