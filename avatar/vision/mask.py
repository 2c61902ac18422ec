"""Face masks from landmarks, and pasting a crop back into its frame.

Masks are (H, W) float32 in [0, 1]. Images are uint8 (H, W, 3), any colour order, kept.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar.vision.align import invert, transform_points

JAW = slice(0, 17)
BROWS = slice(17, 27)
NOSE_BRIDGE_TOP = 27
CHIN = 8


def face_outline(landmarks: np.ndarray, forehead: float = 0.2) -> np.ndarray:
    """(N, 2) polygon around the face: the jaw line plus the brows lifted to cover the forehead.

    forehead: how far to lift the brows, as a share of the brow-to-chin distance (0 = brow line).
    """
    landmarks = np.asarray(landmarks, np.float64)
    up = landmarks[NOSE_BRIDGE_TOP] - landmarks[CHIN]  # chin -> brows, follows head roll
    brows = landmarks[BROWS] + forehead * up
    return np.concatenate([landmarks[JAW], brows])


def hull_mask(landmarks: np.ndarray, height: int, width: int, forehead: float = 0.2,
              erode: int = 0, feather: int = 0) -> np.ndarray:
    """Convex-hull face mask of shape (height, width), float32 in [0, 1].

    erode: pixels to shrink the hull by (keeps the blend inside the face); feather: Gaussian
    blur radius in pixels that softens the edge (0 = hard edge).
    """
    mask = np.zeros((height, width), np.uint8)
    hull = cv2.convexHull(np.round(face_outline(landmarks, forehead)).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255)
    if erode > 0:
        mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode + 1,) * 2))
    result = mask.astype(np.float32) / 255
    if feather > 0:
        result = cv2.GaussianBlur(result, (0, 0), sigmaX=feather / 2)
    return result


def inner_face_mask(landmarks: np.ndarray, height: int, width: int) -> np.ndarray:
    """(height, width) float32 {0, 1} mask of the inner face: cheek to cheek (jaw points 2-14),
    brows to chin; no hair, ears, forehead or background. Used to judge the face itself."""
    landmarks = np.asarray(landmarks, np.float64)
    polygon = np.concatenate([landmarks[2:15], landmarks[BROWS][::-1]])
    mask = np.zeros((height, width), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(polygon).astype(np.int32)), 1)
    return mask.astype(np.float32)


def skin_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32 {0, 1}: the face's skin in an aligned crop, for colour statistics:
    the landmark hull shrunk by 5 % of the crop (its edge holds background and hair), without
    brows, eyes and lips (their darkness is not skin tone)."""
    landmarks = np.asarray(landmarks, np.float64)
    hull = (hull_mask(landmarks, size, size, erode=max(1, round(0.05 * size))) > 0.5).astype(np.uint8)
    features = np.zeros((size, size), np.uint8)
    for part in (slice(17, 22), slice(22, 27), slice(36, 42), slice(42, 48), slice(48, 60)):
        cv2.fillConvexPoly(features, cv2.convexHull(np.round(landmarks[part]).astype(np.int32)), 1)
    grow = max(1, round(0.025 * size))
    features = cv2.dilate(features, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))
    return (hull * (1 - features)).astype(np.float32)


def paste_back(frame: np.ndarray, crop: np.ndarray, matrix: np.ndarray, crop_mask: np.ndarray) -> np.ndarray:
    """Blend a (size, size, 3) crop back into `frame` through its source->crop `matrix`.

    crop_mask: (size, size) float32 in [0, 1], where 1 takes the crop. Only the face's bounding
    region is warped, so the cost follows the face size, not the frame size. Returns a new frame.
    """
    height, width = frame.shape[:2]
    size = crop.shape[0]
    corners = transform_points(np.array([[0, 0], [size, 0], [0, size], [size, size]]), invert(matrix))
    x0, y0 = np.floor(corners.min(0)).astype(int) - 1
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    out = frame.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    # crop -> region of interest: the inverse matrix shifted to the region's origin.
    back = invert(matrix)
    back[:, 2] -= (x0, y0)
    roi_size = (x1 - x0, y1 - y0)
    face = cv2.warpAffine(crop, back, roi_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(crop_mask, back, roi_size, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)[..., None]
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(region + alpha * (face.astype(np.float32) - region) + 0.5, 0, 255).astype(np.uint8)
    return out
