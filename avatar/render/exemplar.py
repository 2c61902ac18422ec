"""The exemplar renderer: the presenter drawn from his own real video, not decoded by a network.

A presenter folder's `library/` (a `DriverLibrary` of his consented video, held-out tails left
out) is the source of every pixel of his face. For a driver clip:

1. expression mapping: every face is brought to a canonical frame by a similarity fit of its
   steady points (eye corners, nose) onto the template; the driver's offsets from its own
   neutral face (estimated per clip from its calmest mouth) are added to the presenter's neutral;
2. retrieval: dynamic programming over the library picks, for every frame, his frame nearest in
   mouth, eyes, brows and head pose, preferring runs of consecutive frames (`coherent_path`);
3. warp: the chosen frame's face moves piecewise-affinely from its own landmarks to the target
   landmarks (one dense map through a fixed triangulation, applied with cv2.remap; a ring around
   the face moves rigidly, so nothing tears);
4. compose, in one of two framings: "own" (his own scene: a calm continuous stretch of his video
   with only the face re-drawn, so room, hair and body are his) or "driver" (into the driver's
   frame, colour-matched and feathered as the swap composites).

Where the path jumps between non-consecutive library frames, the old run is continued and
cross-faded into the new one over a few frames, so the face does not pop.

Frames are (H, W, 3) uint8 RGB; landmarks (68, 2) float (x, y) pixels.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
from scipy.spatial import Delaunay

from avatar.config import FRAMINGS, ExemplarConfig, TrackConfig
from avatar.driver.library import DriverLibrary, build_library, face_features
from avatar.driver.synthesize import STABLE, choose_base, coherent_path
from avatar.media import Frame
from avatar.media.clip import DriverClip
from avatar.paths import atomic_write, cache_dir
from avatar.presenter import CONSENT_FILE, LIBRARY, open_presenter, write_record
from avatar.provenance.consent import load_consent
from avatar.render.colour import ColourMatcher
from avatar.render.report import FACE_TOO_SMALL, RenderReport
from avatar.inference.refiner import RefinerModel
from avatar.vision import (TEMPLATE_68, FaceTracker, align_face, eye_centres, face_outline, mouth_opening, paste_back,
                           transform_points, umeyama)

MOUTH = list(range(48, 68))
JAW = list(range(4, 13))
EYES = list(range(36, 48))
BROWS = list(range(17, 27))
EXPRESSIVE = JAW + BROWS + EYES + MOUTH
LOWER_FACE = list(range(2, 15)) + [29]  # cheeks, jaw and chin up to the nose: a mouth's region
NOSE = list(range(27, 36))
POSE = slice(3, 6)  # roll, yaw, pitch in `face_features`
RING = (1.35, 1.8)  # control rings around the face outline (scale about its centre): rigid motion there


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


@dataclass
class PresenterLibrary:
    """A presenter's library ready for retrieval: the frames' canonical landmarks, descriptors
    and spreads, his neutral face, and the refiner that repairs what is drawn from it."""

    frames: DriverLibrary
    canon: np.ndarray  # (N, 68, 2) float64
    features: dict[str, np.ndarray]
    spread: dict[str, float]
    neutral: np.ndarray  # (68, 2)
    refiner: RefinerModel | None = None  # set by `render.load_drawing` when the presenter has one

    @classmethod
    def load(cls, folder: Path) -> PresenterLibrary:
        return _load(str(Path(folder).resolve()), Path(folder, "index.npz").stat().st_mtime_ns)

    @property
    def size(self) -> tuple[int, int]:
        meta = self.frames.meta
        return int(meta["width"]), int(meta["height"])


@lru_cache(maxsize=4)
def _load(folder: str, _version: int) -> PresenterLibrary:
    frames = DriverLibrary.load(Path(folder))
    canon = np.zeros(frames.landmarks.shape, np.float64)
    canon[frames.valid] = canonical(frames.landmarks[frames.valid])
    features = descriptors(canon, frames.features[:, POSE])
    spread = {name: float(value[frames.valid].std(0).mean()) + 1e-6 for name, value in features.items()}
    return PresenterLibrary(frames, canon, features, spread, neutral_face(canon[frames.valid]))


@dataclass
class Plan:
    """What each output frame is made of. base: library frame of his own scene ("own"), or -1
    (the driver's frame); source: the library frame whose face is drawn; blend: a second source
    faded in (-1: none) with weight `alpha` (of the blend); target: (T, 68, 2) output-frame
    landmarks the face is warped to; lower_face: only the mouth and jaw are drawn (eyes and
    brows stay the base's own)."""

    base: np.ndarray
    source: np.ndarray
    blend: np.ndarray
    alpha: np.ndarray
    target: np.ndarray
    lower_face: bool = False


def fill_gaps(landmarks: list[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
    """(T, 68, 2) landmarks with missing frames taken from the nearest frame that has them, and
    (T,) bool found. Raises ValueError when no frame has any."""
    found = np.array([p is not None for p in landmarks])
    if not found.any():
        raise ValueError("no face in any frame")
    have = np.flatnonzero(found)
    nearest = have[np.abs(np.arange(len(landmarks))[:, None] - have[None]).argmin(1)]
    return np.stack([landmarks[i] for i in nearest]).astype(np.float64), found


def plan(library: PresenterLibrary, driver: np.ndarray, framing: str, config: ExemplarConfig,
         seed: int = 0) -> Plan:
    """The plan for a driver clip's (T, 68, 2) frame landmarks (gaps already filled)."""
    if framing not in FRAMINGS:
        raise ValueError(f"framing must be one of {FRAMINGS}, got {framing!r}")
    lib = library.frames
    canon_driver = canonical(driver)
    offset = canon_driver - neutral_face(canon_driver, config.neutral_quantile)
    wanted = library.neutral[None] + offset * config.expression_gain
    if framing == "own":
        base = choose_base(lib, len(driver), seed)
        canon_base = library.canon[base]
        # His own head (pose, outline, nose) from the base; the expression from the driver, moved
        # with where the base's nose sits relative to his neutral.
        shift = (canon_base[:, NOSE] - library.neutral[NOSE]).mean(1, keepdims=True)
        target_canon = canon_base.copy()
        target_canon[:, EXPRESSIVE] = wanted[:, EXPRESSIVE] + shift
        pose = lib.features[base][:, POSE]
        frame_points = lib.landmarks[base].astype(np.float64)
    else:
        base = np.full(len(driver), -1)
        target_canon = wanted
        # Pose proxies (nose offset from the eyes) differ from face to face: follow the driver's
        # changes of pose around its own median, from his.
        pose = np.stack([face_features(p)[POSE] for p in driver])
        pose = pose - np.median(pose, 0) + np.median(lib.features[lib.valid][:, POSE], 0)
        frame_points = driver
    goal = descriptors(target_canon, pose)
    cost = np.zeros((len(driver), len(lib)))
    for name, weight in config.weights.items():
        diff = (goal[name][:, None, :] - library.features[name][None]) / library.spread[name]
        cost += weight * (diff ** 2).mean(2)
    cost[:, ~lib.valid] = np.inf
    source = coherent_path(cost, lib.continues, config.candidates, config.hold_cost, config.skip_cost,
                           config.jump_cost)
    target = np.stack([transform_points(c, cv2.invertAffineTransform(canonical_matrix(p)))
                       for c, p in zip(target_canon, frame_points)])
    blend, alpha = crossfades(source, lib.continues & lib.valid, config.crossfade)
    return Plan(base, source, blend, alpha, target)


def plan_from_cut(library: PresenterLibrary, cut: tuple[Path, np.ndarray, np.ndarray], landmarks: np.ndarray,
                  config: ExemplarConfig) -> Plan:
    """The plan for a synthesised clip cut from his own library (`DriverClip.cut_from`): his
    own head stretch as the base, his own mouths as chosen for the speech, only the lower face
    re-drawn; nothing to map or retrieve again."""
    _, base, mouth = cut
    blend, alpha = crossfades(mouth, library.frames.continues & library.frames.valid, config.crossfade)
    return Plan(np.asarray(base), np.asarray(mouth), blend, alpha, np.asarray(landmarks, np.float64), lower_face=True)


def crossfades(source: np.ndarray, continues: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """At every jump of `source` (T,) to a frame that does not follow the one before, the old run
    goes on for `frames` more frames, fading out: (T,) library index of the fading source (-1:
    none) and (T,) its weight."""
    blend, alpha = np.full(len(source), -1), np.zeros(len(source))
    last = len(continues) - 1
    for t in range(1, len(source)):
        previous, current = source[t - 1], source[t]
        if current in (previous, previous + 1) and (current == previous or continues[current]):
            continue
        old = previous
        for i in range(frames):
            if t + i >= len(source) or old >= last or not continues[old + 1]:
                break
            old += 1
            blend[t + i], alpha[t + i] = old, 1 - (i + 1) / (frames + 1)
    return blend, alpha


def build_presenter_library(folder: Path, videos: list[Path], consent: Path, heldout: float = 0.2, crf: int = 16,
                            on_progress: Callable[[int, int], None] | None = None) -> PresenterLibrary:
    """Build the presenter model `folder`'s library from his own `videos` (each video's last
    `heldout` share stays out, for evaluation), keep the `consent` record in it, and seal it
    into the presenter's integrity record. The consent record and the presenter are checked
    before any work; an interrupted build resumes from its last finished video."""
    folder = Path(folder)
    record = load_consent(consent)
    open_presenter(folder)  # intact now: resealing must never bless a changed file
    library = folder / LIBRARY
    build_library(videos, library, heldout=heldout, crf=crf, work=cache_dir("library-work") / folder.name,
                  on_progress=on_progress)
    atomic_write(library / CONSENT_FILE, json.dumps(record.to_dict(), indent=1) + "\n")
    write_record(folder)
    return PresenterLibrary.load(library)


def reenactment_pairs(library: PresenterLibrary, count: int, size: int, seed: int = 0,
                      config: ExemplarConfig = ExemplarConfig(), neighbours: int = 20,
                      on_progress: Callable[[int, int], None] | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Self-reenactment examples for the refiner, from his library alone: frame j re-drawn as
    the renderer would draw it in his own scene, from frame i (one of j's `neighbours` nearest
    in expression and pose, at least a second away or in another video), beside the real frame
    j. Returns inputs (count, S, S, 3) uint8 RGB (aligned at j's landmarks), masks (count, S, S)
    float32 (where the face was drawn) and targets (count, S, S, 3) uint8 RGB."""
    lib = library.frames
    rng = np.random.default_rng(seed)
    valid = np.flatnonzero(lib.valid)
    segment = np.cumsum(~lib.continues)
    jobs = []
    for j in rng.choice(valid, size=count, replace=count > len(valid)):
        cost = sum(w * ((library.features[name] - library.features[name][j]) ** 2).mean(1) / library.spread[name] ** 2
                   for name, w in config.weights.items())
        near = (np.abs(np.arange(len(lib)) - j) < lib.fps) & (segment == segment[j])
        cost[near | ~lib.valid] = np.inf
        jobs.append((int(j), int(rng.choice(np.argsort(cost)[:neighbours]))))
    inputs = np.zeros((count, size, size, 3), np.uint8)
    masks = np.zeros((count, size, size), np.float32)
    targets = np.zeros((count, size, size, 3), np.uint8)
    order = np.argsort([j for j, _ in jobs])
    for start in range(0, count, 256):  # a few hundred frames in memory at a time
        chunk = order[start:start + 256]
        pixels = lib.frames(sorted({i for k in chunk for i in jobs[k]}))
        for k in chunk:
            j, i = jobs[k]
            points_j, points_i = lib.landmarks[j].astype(np.float64), lib.landmarks[i].astype(np.float64)
            drawn, mask = compose(pixels[j], points_j, pixels[i], points_i, points_j, config)
            inputs[k], matrix = align_face(drawn, points_j, size)
            targets[k], _ = align_face(pixels[j], points_j, size)
            masks[k] = cv2.warpAffine(mask, matrix, (size, size))
            if on_progress:
                on_progress(int(start + np.searchsorted(chunk, k) + 1), count)
    return inputs, masks, targets


# -- warping ------------------------------------------------------------------------------------

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
    return Delaunay(control_points(TEMPLATE_68 * 256)).simplices.astype(np.int32)


def warp_face(image: np.ndarray, source: np.ndarray, target: np.ndarray,
              box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """`image`'s face (landmarks `source`) moved so its landmarks land on `target`, rendered
    into the output box (x0, y0, x1, y1) of the output frame. Piecewise-affine inside the outer
    ring (a fixed triangulation, so the map is continuous: no seams), the rigid fit of the steady
    points outside it. The map is computed at every pixel: a coarser map interpolated between
    nodes smeared the thin triangles at the mouth's corners. Returns the (y1-y0, x1-x0, 3) uint8
    patch and its float32 (y1-y0, x1-x0) source x map (for tests and diagnostics)."""
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
    return patch, map_x


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
              region: list[int] | None = None) -> np.ndarray:
    """(h, w) float32 in [0, 1]: the union of the faces' hulls (jaw and brows, forehead left to
    the base; or of the landmarks in `region`) in `box`, shrunk by `inset` pixels (dlib puts the
    jaw on or beyond the cheek's edge, where the source frame shows its wall) and feathered by
    `feather` pixels."""
    x0, y0, x1, y1 = box
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for p in points:
        outline = face_outline(p, forehead=0.1) if region is None else p[region]
        hull = cv2.convexHull(outline.astype(np.float32))[:, 0].astype(np.float64)
        # Shrunk towards its centre by `inset` pixels (a convex hull's erosion, without the cost
        # of eroding with a large kernel).
        centre = hull.mean(0)
        distance = np.linalg.norm(hull - centre, axis=1, keepdims=True)
        hull = centre + (hull - centre) * np.maximum(distance - inset, 0) / np.maximum(distance, 1e-6)
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


# -- rendering a clip -----------------------------------------------------------------------------

class ExemplarRenderer:
    """Renders one driver clip as the presenter drawn from his library (see the module
    docstring); `render` yields (driver frame or None, output frame) pairs in order."""

    def __init__(self, library: PresenterLibrary, config: ExemplarConfig = ExemplarConfig(),
                 track: TrackConfig = TrackConfig(), min_face: int = 40, refiner: RefinerModel | None = None):
        self.library, self.config, self.track, self.min_face = library, config, track, min_face
        self.refiner = refiner
        self.report = RenderReport()

    def frame_size(self, clip: DriverClip) -> tuple[int, int]:
        return self.library.size if self.config.framing(clip.kind) == "own" else (clip.width, clip.height)

    def describe(self, clip: DriverClip) -> str:
        own = self.config.framing(clip.kind) == "own"
        return "exemplar renderer, " + ("the presenter's own scene" if own else "in the driver's frame")

    def driver_landmarks(self, clip: DriverClip) -> list[np.ndarray | None]:
        """Per frame (68, 2) landmarks of the driver's face, None where no usable face."""
        started = time.perf_counter()
        if clip.landmarks is not None:
            found = [np.asarray(p, np.float64) for p in clip.landmarks]
        else:
            tracker, found = FaceTracker(self.track), []
            for frame in clip.frames():
                face, reason = tracker.update(frame.rgb, frame.time)
                if face is None:
                    self.report.skipped[reason] += 1
                found.append(None if face is None else face.landmarks.astype(np.float64))
        for i, p in enumerate(found):
            if p is not None and np.ptp(p[:, 0]) < self.min_face:
                found[i] = None
                self.report.skipped[FACE_TOO_SMALL] += 1
        self.report.seconds["track"] += time.perf_counter() - started
        return found

    def render(self, clip: DriverClip, with_driver: bool = False
               ) -> Iterator[tuple[Frame | None, np.ndarray | None]]:
        """(driver frame, rendered (H, W, 3) uint8 RGB or None) per clip frame. With framing
        "driver", a frame whose face was not found yields None (it is never shown as it is);
        with "own" it is drawn from the nearest frame's expression (no driver pixel is shown),
        and the driver frame is None unless `with_driver` (decoding it costs time)."""
        found = self.driver_landmarks(clip)
        self.report.frames = len(found)
        try:
            driver, have = fill_gaps(found)
        except ValueError:
            return
        started = time.perf_counter()
        framing = self.config.framing(clip.kind)
        cut = clip.cut_from
        if framing == "own" and cut is not None and Path(cut[0]).resolve() == self.library.frames.folder.resolve():
            steps = plan_from_cut(self.library, cut, driver, self.config)
        else:
            # Which calm stretch of his video is the scene: fixed by the driver itself, so the same
            # recording always renders the same, and different ones do not all share one stretch.
            seed = int.from_bytes(hashlib.sha256(np.round(driver).astype(np.int32).tobytes()).digest()[:4], "big")
            steps = plan(self.library, driver, framing, self.config, seed)
        lib = self.library.frames
        wanted = set(steps.source.tolist()) | set(steps.blend[steps.blend >= 0].tolist())
        wanted |= set(steps.base[steps.base >= 0].tolist())
        pixels = lib.frames(sorted(wanted))
        self.report.seconds["retrieve"] += time.perf_counter() - started
        colour = ColourMatcher("rct", 0.8)
        own = framing == "own"
        frames = clip.frames() if with_driver or not own else iter([None] * len(found))
        for t, frame in enumerate(frames):
            if t >= len(found):
                break
            if not own and not have[t]:
                colour.reset()
                yield frame, None
                continue
            started = time.perf_counter()
            background = pixels[int(steps.base[t])] if own else frame.rgb
            base_points = lib.landmarks[steps.base[t]].astype(np.float64) if own else driver[t]
            out = self.draw(background, base_points, steps, t, pixels, colour, own)
            self.report.seconds["warp"] += time.perf_counter() - started
            self.report.swapped += 1
            yield frame, out

    def draw(self, background: np.ndarray, base_points: np.ndarray, steps: Plan, t: int,
             pixels: dict[int, np.ndarray], colour: ColourMatcher, own: bool) -> np.ndarray:
        """Frame t: the source face warped onto `background` (his own base frame when `own`, else
        the driver's, with whose skin the face is then colour-matched) at the target landmarks,
        then repaired by the refiner when there is one."""
        lib = self.library.frames
        source, old = int(steps.source[t]), int(steps.blend[t])
        fading = (pixels[old], lib.landmarks[old].astype(np.float64), steps.alpha[t]) if old >= 0 else None
        out, mask = compose(background, base_points, pixels[source], lib.landmarks[source].astype(np.float64),
                            steps.target[t], self.config, None if own else colour, fading, steps.lower_face)
        if self.refiner is None:
            return out
        started = time.perf_counter()
        crop, matrix = align_face(out, steps.target[t], self.refiner.size)
        crop_mask = cv2.warpAffine(mask, matrix, (self.refiner.size,) * 2)
        refined = self.refiner.run(crop[None], crop_mask[None])[0]
        self.report.seconds["refine"] += time.perf_counter() - started
        return paste_back(out, refined, matrix, crop_mask)


def compose(background: np.ndarray, base_points: np.ndarray, source: np.ndarray, source_points: np.ndarray,
            target: np.ndarray, config: ExemplarConfig, colour: ColourMatcher | None = None,
            fading: tuple[np.ndarray, np.ndarray, float] | None = None,
            lower_face: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`source`'s face (landmarks `source_points`) warped to the `target` landmarks and blended
    into `background` (whose own face has `base_points`). colour None: the background is his
    own frame (same man and room: only the mean exposure is matched, and the mask covers both
    faces); else the driver's frame, whose skin the face is colour-matched to, and the mask is
    the target face. fading: (image, landmarks, weight) of a second source cross-faded in.
    lower_face: only the jaw and mouth are drawn (below the nose; eyes stay the background's).
    Returns the frame (H, W, 3) uint8 RGB and the blend mask (H, W) float32 in [0, 1]."""
    height, width = background.shape[:2]
    box = face_box([target, base_points], width, height)
    patch, _ = warp_face(source, source_points, target, box)
    if fading is not None:
        old, old_points, weight = fading
        faded, _ = warp_face(old, old_points, target, box)
        patch = cv2.addWeighted(faded, weight, patch, 1 - weight, 0)
    x0, y0, x1, y1 = box
    region = background[y0:y1, x0:x1]
    eye_distance = float(np.linalg.norm(np.subtract(*eye_centres(target))))
    skin = skin_region(base_points, box) * skin_region(target, box)
    if colour is not None:
        patch = colour(patch, region, skin)
    elif skin.any():  # the same man and room; only exposure drifts between moments of his video
        shift = region[skin > 0].astype(np.float32).mean(0) - patch[skin > 0].astype(np.float32).mean(0)
        patch = np.clip(patch.astype(np.float32) + shift, 0, 255).astype(np.uint8)
    own = colour is None
    inset = config.inset_own if own else config.inset_driver
    alpha = face_mask([target, base_points] if own else [target], box, inset * eye_distance,
                      config.feather * eye_distance, LOWER_FACE if lower_face else None)
    out = background.copy()
    blended = region.astype(np.float32) + alpha[..., None] * (patch.astype(np.float32) - region.astype(np.float32))
    out[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    mask = np.zeros((height, width), np.float32)
    mask[y0:y1, x0:x1] = alpha
    return out, mask
