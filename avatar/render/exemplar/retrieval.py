"""What each output frame is made of: the driver's expression mapped onto the presenter, his
frames retrieved by dynamic programming (runs of consecutive frames preferred), cross-fades at
jumps, or a synthesised clip's own choice of his frames taken as it is."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from avatar.config import FRAMINGS, ExemplarConfig
from avatar.driver.library import face_features
from avatar.driver.synthesize import choose_base, coherent_path
from avatar.render.exemplar.features import EXPRESSIVE, NOSE, POSE, canonical, canonical_matrix, descriptors, neutral_face
from avatar.render.exemplar.library import PresenterLibrary
from avatar.vision import transform_points


@dataclass
class Plan:
    """What each output frame is made of. base: library frame of his own scene ("own"), or -1
    (the driver's frame); source: the library frame whose face is drawn; blend: a second source
    faded in (-1: none) with weight `alpha` (of the blend); target: (T, 68, 2) output-frame
    landmarks the face is warped to; lower_face: only the mouth and jaw are drawn (eyes and
    brows stay the base's own). In his own scene an answer eases in from his listening loop's
    first frame (`home`, a library index) and back to it at the end (`ease_ends`): shown (T,)
    0..1 is how far each frame has come from it (the scene morphed from `home` to the base, and
    the drawn face over it), base_points (T, 68, 2) the scene's landmarks so eased; None and -1
    elsewhere (the whole drawn face, on the base as it is)."""

    base: np.ndarray
    source: np.ndarray
    blend: np.ndarray
    alpha: np.ndarray
    target: np.ndarray
    lower_face: bool = False
    shown: np.ndarray | None = None
    base_points: np.ndarray | None = None
    home: int = -1


def fill_gaps(landmarks: list[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
    """(T, 68, 2) landmarks with missing frames taken from the nearest frame that has them, and
    (T,) bool found. Raises ValueError when no frame has any."""
    found = np.array([p is not None for p in landmarks])
    if not found.any():
        raise ValueError("no face in any frame")
    have = np.flatnonzero(found)
    frames = np.arange(len(landmarks))
    after = np.minimum(np.searchsorted(have, frames), len(have) - 1)  # the first found frame at or after
    before = np.maximum(after - 1, 0)
    nearest = np.where(np.abs(have[before] - frames) <= np.abs(have[after] - frames), have[before], have[after])
    return np.stack([landmarks[i] for i in nearest]).astype(np.float64), found


def plan(library: PresenterLibrary, driver: np.ndarray, framing: str, config: ExemplarConfig,
         seed: int = 0) -> Plan:
    """The plan for a driver clip's (T, 68, 2) frame landmarks (gaps already filled). In his own
    scene the head moves as in a calm stretch of the recording his listening loop is from
    (`seed` picks which), eased in from the loop's first frame and back (`ease_ends`)."""
    if framing not in FRAMINGS:
        raise ValueError(f"framing must be one of {FRAMINGS}, got {framing!r}")
    lib = library.frames
    canon_driver = canonical(driver)
    offset = canon_driver - neutral_face(canon_driver, config.neutral_quantile)
    wanted = library.neutral[None] + offset * config.expression_gain
    if framing == "own":
        base = choose_base(lib, len(driver), seed, near=int(library.listening[0]))
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
    if framing != "own":
        return Plan(base, source, blend, alpha, target)
    return ease_ends(Plan(base, source, blend, alpha, target), library, config)


def plan_from_cut(library: PresenterLibrary, cut: tuple[Path, np.ndarray, np.ndarray], landmarks: np.ndarray,
                  config: ExemplarConfig, ease_out: bool = True) -> Plan:
    """The plan for a synthesised clip cut from his own library (`DriverClip.cut_from`): his
    own head stretch as the base, his own mouths as chosen for the speech, only the lower face
    re-drawn; nothing to map or retrieve again. ease_out False: the clip goes on after these
    frames (it is still being planned), so it is eased in only."""
    _, base, mouth = cut
    lib = library.frames
    blend, alpha = crossfades(mouth, lib.continues & lib.valid, config.mouth_crossfade)
    steps = Plan(np.asarray(base), np.asarray(mouth), blend, alpha, np.asarray(landmarks, np.float64), lower_face=True)
    return ease_ends(steps, library, config, ease_out)


def ease_ends(steps: Plan, library: PresenterLibrary, config: ExemplarConfig, ease_out: bool = True) -> Plan:
    """`steps` in his own scene, eased in from his listening loop's first frame and back to it
    over `config.ease_seconds` at each end: there the scene is morphed from that frame to the
    base (its landmarks moved alike) and the drawn face, its target moved from the scene's own
    landmarks to its own, fades in over it. The first and last frames are then the loop's frame
    exactly, and nothing is blended that does not line up (`warp.morph`). ease_out False: the
    end is not eased (more frames follow)."""
    lib = library.frames
    home = int(library.listening[0])
    count = len(steps.base)
    frames = max(round(config.ease_seconds * lib.fps), 1)
    left = count - 1 - np.arange(count) if ease_out else np.full(count, frames)
    shown = np.clip(np.minimum(np.arange(count), left) / frames, 0.0, 1.0)
    weight = shown[:, None, None]
    home_points = lib.landmarks[home].astype(np.float64)
    scene = home_points + weight * (lib.landmarks[steps.base].astype(np.float64) - home_points)
    target = scene + weight * (steps.target - scene)
    return replace(steps, target=target, shown=shown, base_points=scene, home=home)


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
