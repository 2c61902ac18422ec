"""Moving a face from one set of landmarks to another without seams, and blending it in: the
dense piecewise-affine map, masks, and one frame's composite. Images are (H, W, 3) uint8 RGB."""

from __future__ import annotations

import threading
from functools import lru_cache

import cv2
import numpy as np

from avatar.config import ExemplarConfig
from avatar.driver.synthesize import STABLE
from avatar.render.colour import ColourMatcher
from avatar.render.exemplar.features import LOWER_FACE
from avatar.vision import TEMPLATE_68, eye_centres, face_outline, umeyama

BROW_LIFT = 0.2  # the drawn face reaches this share of the brow-to-chin distance above the brows
CHIN = [6, 7, 8, 9, 10]  # the jaw points that border his neck
RING = (1.35, 1.8)  # control rings around the face outline (scale about its centre): rigid motion there


def control_points(landmarks: np.ndarray) -> np.ndarray:
    """(68 + 2 x 27, 2): the landmarks plus two rings around the face outline (brows lifted to the
    forehead), scaled about the face's centre by `RING`."""
    outline = face_outline(landmarks, forehead=0.35)
    centre = outline.mean(0)
    rings = [centre + (outline - centre) * scale for scale in RING]
    return np.concatenate([landmarks, *rings])


@lru_cache(maxsize=1)
def triangles() -> np.ndarray:
    """(K, 3) triangle indices into `control_points`: one Delaunay triangulation of the template,
    used for every face, so the map's pieces never change from frame to frame."""
    points = control_points(TEMPLATE_68 * 256).astype(np.float32)
    low, high = points.min(0) - 10, points.max(0) + 10
    subdiv = cv2.Subdiv2D((int(low[0]), int(low[1]), int(high[0] - low[0]) + 1, int(high[1] - low[1]) + 1))
    subdiv.insert([tuple(map(float, p)) for p in points])
    corners = subdiv.getTriangleList().reshape(-1, 3, 2)
    # Back from corner coordinates to point indices; triangles touching Subdiv2D's own outer
    # vertices (far outside) match no point and are dropped.
    distance = np.linalg.norm(corners[:, :, None, :] - points[None, None], axis=3)
    index = distance.argmin(2)
    inside = (distance.min(2) < 1e-3).all(1)
    return index[inside].astype(np.int32)


def warp_face(image: np.ndarray, source: np.ndarray, target: np.ndarray,
              box: tuple[int, int, int, int]) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """`image`'s face (landmarks `source`) moved so its landmarks land on `target`, rendered
    into the output box (x0, y0, x1, y1) of the output frame. Piecewise-affine inside the outer
    ring (a fixed triangulation, so the map is continuous: no seams), the rigid fit of the steady
    points outside it. The map is computed at every pixel: a coarser map interpolated between
    nodes smeared the thin triangles at the mouth's corners. Returns the (y1-y0, x1-x0, 3) uint8
    patch and its float32 (y1-y0, x1-x0) source x and y maps (other planes of the source frame
    are moved alike with `cv2.remap`)."""
    x0, y0, x1, y1 = box
    src, dst = control_points(source), control_points(target)
    tris = triangles()
    corners = np.round((dst[tris] - (x0, y0)) * 16).astype(np.int32)  # 4 fractional bits
    ids = np.zeros((y1 - y0, x1 - x0), np.int32)
    for k, corner in enumerate(corners):
        cv2.fillConvexPoly(ids, corner, k + 1, shift=4)
    maps = np.empty((len(tris) + 1, 2, 3))
    maps[0] = umeyama(target[STABLE], source[STABLE])  # outside the rings: rigid
    # Every triangle's affine map dst -> src at once: [x y 1] rows of its corners, solved.
    rows = np.concatenate([dst[tris], np.ones((len(tris), 3, 1))], axis=2)  # (K, 3, 3)
    degenerate = np.abs(np.linalg.det(rows)) < 1e-9  # a closed lip's sliver: map it rigidly
    rows[degenerate] = np.eye(3)
    maps[1:] = np.linalg.solve(rows, src[tris]).transpose(0, 2, 1)
    maps[1:][degenerate] = maps[0]
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    chosen = maps[ids].astype(np.float32)
    map_x = chosen[..., 0, 0] * xs + chosen[..., 0, 1] * ys + chosen[..., 0, 2]
    map_y = chosen[..., 1, 0] * xs + chosen[..., 1, 1] * ys + chosen[..., 1, 2]
    patch = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return patch, (map_x, map_y)


def face_box(points: list[np.ndarray], width: int, height: int, margin: float = 0.25) -> tuple[int, int, int, int]:
    """Integer box (x0, y0, x1, y1) around the faces `points` (each (68, 2)) with a margin of
    `margin` x the face size, clipped to the frame."""
    allpts = np.concatenate([face_outline(p, forehead=0.35) for p in points])
    low, high = allpts.min(0), allpts.max(0)
    pad = margin * (high - low).max()
    x0, y0 = np.floor(low - pad).astype(int)
    x1, y1 = np.ceil(high + pad).astype(int)
    return max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)


def face_mask(points: list[np.ndarray], box: tuple[int, int, int, int], inset: float, feather: float,
              region: list[int] | None = None, chin_inset: float | None = None) -> np.ndarray:
    """(h, w) float32 in [0, 1]: the union of the faces' hulls in `box`, feathered by `feather`
    pixels. A face's hull is its jaw shrunk towards the face's centre by `inset` pixels (dlib puts
    the jaw on or beyond the cheek's edge, where the source frame shows its wall; the chin, points
    6-10, by `chin_inset` when given: below it lies his neck, not the wall) and its brows lifted
    by BROW_LIFT of the brow-to-chin distance, so the feathered edge crosses the forehead's skin,
    never a brow (brows half his own and half drawn showed twice). With `region`: the hull of
    those landmarks, shrunk alike."""
    x0, y0, x1, y1 = box
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for p in points:
        outline = face_outline(p, forehead=BROW_LIFT) if region is None else p[region]
        centre = outline.mean(0)
        # Shrunk towards its centre (a convex hull's erosion, without the cost of eroding with a
        # large kernel): the jaw only, or all of a region.
        shrink = slice(0, 17) if region is None else slice(None)
        part = outline[shrink]
        ids = np.arange(17) if region is None else np.asarray(region)
        by = np.where(np.isin(ids, CHIN), inset if chin_inset is None else chin_inset, inset)[:, None]
        distance = np.linalg.norm(part - centre, axis=1, keepdims=True)
        outline = outline.copy()
        outline[shrink] = centre + (part - centre) * np.maximum(distance - by, 0) / np.maximum(distance, 1e-6)
        hull = cv2.convexHull(outline.astype(np.float32))[:, 0].astype(np.float64)
        cv2.fillConvexPoly(mask, np.round((hull - (x0, y0)) * 16).astype(np.int32), 255, shift=4)
    return cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), max(feather / 2, 0.5))


def skin_region(points: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """(h, w) float32 {0, 1}: cheeks and nose of a face (inside the jaw, below the eyes, beside
    the mouth) in `box`, where colour is compared."""
    x0, y0, x1, y1 = box
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cheeks = np.concatenate([points[1:16], points[[35, 42, 39, 31]]])
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(cheeks - (x0, y0)).astype(np.int32)), 1)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points[48:60] - (x0, y0)).astype(np.int32)), 0)
    return mask.astype(np.float32)


def morph(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """Two (h, w, 3) uint8 images of the same face, nearly lined up, blended with `weight` of
    `b`, each first moved part of the way to the other by dense optical flow (a to b by `weight`,
    b to a by the rest), so that features meet instead of showing twice: landmarks put on two
    different frames differ by a pixel or two, and a plain cross-fade doubled brows and lids."""
    if weight <= 0:
        return a
    if weight >= 1:
        return b
    grey = [cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in (b, a)]
    flow = _optical_flow().calc(grey[0], grey[1], None)  # b(x) ~ a(x + flow(x))
    ys, xs = np.mgrid[: a.shape[0], : a.shape[1]].astype(np.float32)
    to_b, to_a = np.float32(weight), np.float32(1 - weight)
    a_moved = cv2.remap(a, xs + to_b * flow[..., 0], ys + to_b * flow[..., 1], cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
    b_moved = cv2.remap(b, xs - to_a * flow[..., 0], ys - to_a * flow[..., 1], cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
    return cv2.addWeighted(a_moved, float(to_a), b_moved, float(to_b), 0)


_per_thread = threading.local()


def _optical_flow():
    """This thread's optical flow: one object shared by two renders at once crashed the process."""
    if not hasattr(_per_thread, "flow"):
        _per_thread.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return _per_thread.flow


def source_face(points: np.ndarray, maps: tuple[np.ndarray, np.ndarray], size: tuple[int, int],
                config: ExemplarConfig) -> np.ndarray:
    """(h, w) float32 in [0, 1]: where a warped patch (`warp_face`'s maps) shows its source
    frame's own face: that frame's ((height, width) `size`) face hull with the own framing's
    insets (landmarks `points`); beyond the frame's edge, as the warp repeats the edge's pixels,
    the edge's (a hard cut there showed as a line across a chin the frame cuts off). Only the
    source's face box is drawn and moved: outside it lies no face."""
    map_x, map_y = maps
    x0, y0, x1, y1 = face_box([points], size[1], size[0])
    eye_distance = float(np.linalg.norm(np.subtract(*eye_centres(points))))
    hull = face_mask([points], (x0, y0, x1, y1), config.inset_own * eye_distance, config.feather * eye_distance / 2,
                     chin_inset=config.inset_chin * eye_distance)
    return cv2.remap(hull, map_x - np.float32(x0), map_y - np.float32(y0), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def compose(background: np.ndarray, base_points: np.ndarray, source: np.ndarray, source_points: np.ndarray,
            target: np.ndarray, config: ExemplarConfig, colour: ColourMatcher | None = None,
            fading: tuple[np.ndarray, np.ndarray, float] | None = None,
            lower_face: bool = False, shown: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """`source`'s face (landmarks `source_points`) warped to the `target` landmarks and blended
    into `background` (whose own face has `base_points`). colour None: the background is his
    own frame (same man and room: only the mean exposure is matched, and the mask covers both
    faces, kept to what the source shows of its own face); else the driver's frame, whose skin
    the face is colour-matched to, and the mask is the target face. fading: (image, landmarks, weight) of a second source cross-faded in
    (`morph`: no doubled features).
    lower_face: only the jaw and mouth are drawn (below the nose; eyes stay the background's).
    shown: the drawn face's weight over the background's own, 0..1 (0: the background as it is),
    the two morphed (`morph`).
    Returns the frame (H, W, 3) uint8 RGB and the blend mask (H, W) float32 in [0, 1]."""
    height, width = background.shape[:2]
    box = face_box([target, base_points], width, height)
    own = colour is None
    patch, maps = warp_face(source, source_points, target, box)
    # In his own scene the mask covers his base face too; where that reaches past the drawn face
    # (his head turned a little more), only what the source shows of its own face is drawn: its
    # wall there, pasted over his cheek, showed as a blue patch.
    inside = source_face(source_points, maps, source.shape[:2], config) if own else None
    if fading is not None:
        old, old_points, weight = fading
        faded, old_maps = warp_face(old, old_points, target, box)
        patch = morph(faded, patch, 1 - weight)
        if own:
            inside = weight * source_face(old_points, old_maps, old.shape[:2], config) + (1 - weight) * inside
    x0, y0, x1, y1 = box
    region = background[y0:y1, x0:x1]
    eye_distance = float(np.linalg.norm(np.subtract(*eye_centres(target))))
    skin = skin_region(base_points, box) * skin_region(target, box)
    if colour is not None:
        patch = colour(patch, region, skin)
    elif skin.any():  # the same man and room; only exposure drifts between moments of his video
        shift = region[skin > 0].astype(np.float32).mean(0) - patch[skin > 0].astype(np.float32).mean(0)
        patch = np.clip(patch.astype(np.float32) + shift, 0, 255).astype(np.uint8)
    if shown < 1:  # easing in from (or out to) his own face beneath
        patch = morph(region, patch, shown)
    inset = config.inset_own if own else config.inset_driver
    alpha = face_mask([target, base_points] if own else [target], box, inset * eye_distance,
                      config.feather * eye_distance, LOWER_FACE if lower_face else None,
                      config.inset_chin * eye_distance if own else None)
    if inside is not None:
        alpha = alpha * inside
    out = background.copy()
    blended = region.astype(np.float32) + alpha[..., None] * (patch.astype(np.float32) - region.astype(np.float32))
    out[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    mask = np.zeros((height, width), np.float32)
    mask[y0:y1, x0:x1] = alpha
    return out, mask
