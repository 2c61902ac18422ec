"""A frame library: every frame of a real person's talking video(s), indexed by mouth shape and pose.
The driver library (franck) and a presenter's own library (the exemplar renderer's) share it.

Folder layout:
    frames.mp4    the video, normalised (constant frame rate, even size), re-encoded compactly
    index.npz     per frame: landmarks (N, 68, 2) float32 source pixels, features (N, 7) float32,
                  valid (N,) bool (a face was tracked), continues (N,) bool (follows the frame
                  before in the same source video), fps
    library.json  source name, size, frame count, feature names, how it was built

Features per frame (scale-free, from landmarks): mouth opening (inner-lip gap / eye distance),
mouth width relative to the speaker's median, roundness, head roll (radians), yaw and pitch
proxies (nose tip offset from the eye midpoint / eye distance), eye openness (aspect ratio).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from avatar.config import MediaLimits, TrackConfig
from avatar.errors import UserError
from avatar.media import iter_frames, normalize, probe, read_frames
from avatar.media.encode import VideoWriter
from avatar.paths import atomic_folder, atomic_path, file_sha256
from avatar.vision import FaceTracker, eye_centres, mouth_opening

# The shipped library, built from franck.mp4 (see assets/PROVENANCE.md).
DEFAULT_LIBRARY = Path(__file__).resolve().parents[2] / "assets" / "driver" / "default"

FEATURES = ("opening", "width", "roundness", "roll", "yaw", "pitch", "eyes")
MOUTH = slice(0, 3)  # the features a viseme target is compared with


def face_features(landmarks: np.ndarray) -> np.ndarray:
    """(7,) float32 features of one face's (68, 2) landmarks; width is absolute here (mouth
    width / eye distance) and made relative to the speaker by `relative_mouth`."""
    p = np.asarray(landmarks, np.float64)
    left, right = eye_centres(p)
    eye_distance = max(np.linalg.norm(right - left), 1e-6)
    width = np.linalg.norm(p[54] - p[48]) / eye_distance
    roll = np.arctan2(right[1] - left[1], right[0] - left[0])
    # Nose tip relative to the eye midpoint, in the face's own frame (roll removed).
    c, s = np.cos(-roll), np.sin(-roll)
    offset = np.array([[c, -s], [s, c]]) @ (p[30] - (left + right) / 2) / eye_distance
    aspect = [(np.linalg.norm(p[a] - p[b]) + np.linalg.norm(p[c2] - p[d])) / (2 * np.linalg.norm(p[e] - p[f]))
              for a, b, c2, d, e, f in ((37, 41, 38, 40, 36, 39), (43, 47, 44, 46, 42, 45))]
    return np.array([mouth_opening(p), width, 0.0, roll, offset[0], offset[1], np.mean(aspect)], np.float32)


def relative_mouth(features: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Width relative to the speaker's median, and roundness from how much narrower than that."""
    out = features.copy()
    rest = float(np.median(features[valid, 1])) if valid.any() else 1.0
    out[:, 1] = features[:, 1] / rest
    out[:, 2] = np.clip((1 - out[:, 1]) / 0.2, 0, 1)
    return out


@dataclass
class DriverLibrary:
    """Every frame of one person's real talking video(s), indexed: the driver library (franck)
    and a presenter's own library (`models/NAME/library/`) share this format.

    landmarks (N, 68, 2) float32 frame pixels; features (N, 7) float32; valid (N,) bool (a face
    was tracked); continues (N,) bool: frame i directly follows frame i-1 in the same source
    video (False at each video's first frame), so "consecutive" never crosses a cut."""

    folder: Path
    landmarks: np.ndarray
    features: np.ndarray
    valid: np.ndarray
    continues: np.ndarray
    fps: float
    meta: dict

    @property
    def video(self) -> Path:
        return self.folder / "frames.mp4"

    def __len__(self) -> int:
        return len(self.valid)

    @classmethod
    def load(cls, folder: Path) -> DriverLibrary:
        folder = Path(folder)
        if not (folder / "index.npz").is_file() or not (folder / "frames.mp4").is_file():
            raise UserError(f"{folder} is not a frame library (run `avatar driver build VIDEO --out {folder}`).")
        with np.load(folder / "index.npz", allow_pickle=False) as index:
            data = {k: index[k] for k in index.files}
        meta = json.loads((folder / "library.json").read_text())
        valid = data["valid"].astype(bool)
        continues = data["continues"].astype(bool) if "continues" in data else np.arange(len(valid)) > 0
        return cls(folder, data["landmarks"], data["features"], valid, continues, float(data["fps"]), meta)

    def frames(self, indices: list[int]) -> dict[int, np.ndarray]:
        """RGB uint8 frames for the given library frame indices."""
        return read_frames(self.video, indices)


def _track(video: Path, frames: int, track: TrackConfig, on_frame: Callable[[], None]) -> np.ndarray:
    """(frames, 68, 2) float32 landmarks of the first `frames` frames of a normalised video (NaN
    where no face was tracked)."""
    landmarks = np.full((frames, 68, 2), np.nan, np.float32)
    tracker = FaceTracker(track)
    for frame in iter_frames(video, max_frames=frames):
        face, _ = tracker.update(frame.rgb, frame.time)
        if face is not None:
            landmarks[frame.index] = face.landmarks
        on_frame()
    return landmarks


def build_library(videos: Path | list[Path], out: Path, heldout: float = 0.0, track: TrackConfig = TrackConfig(),
                  crf: int = 26, limits: MediaLimits = MediaLimits(), work: Path | None = None,
                  on_progress: Callable[[int, int], None] | None = None,
                  short_side: int | None = None) -> DriverLibrary:
    """Index every frame of `videos` (one or several of one person, same frame size and rate)
    into the library folder `out` (replaced atomically), leaving each video's last `heldout`
    share out (kept for evaluation, never drawn from).

    Every input is probed before any work. Each video's tracked landmarks are kept in `work`
    (default: a folder beside `out`), so an interrupted build resumes after the last finished
    video. crf: H.264 quality of frames.mp4 (a presenter's own pixels deserve about 16).
    short_side: the library's working resolution, larger videos scaled down so their shorter
    side is this many pixels (faces are found and tracked at that size too).
    """
    videos = [Path(v) for v in ([videos] if isinstance(videos, (str, Path)) else videos)]
    if not videos:
        raise UserError("give at least one video to build a library from.")
    if not 0 <= heldout < 1:
        raise UserError(f"the held-out share must be in [0, 1), got {heldout}.")
    for video in videos:  # every input is checked before any work
        probe(video, limits)
    out = Path(out)
    work = Path(work) if work else out.parent / f".{out.name}-work"
    work.mkdir(parents=True, exist_ok=True)
    normals = [normalize(video, work, limits, with_audio=False, short_side=short_side) for video in videos]
    shapes = {(n.info.width, n.info.height, round(n.info.fps, 3)) for n in normals}
    if len(shapes) > 1:
        raise UserError("the videos of one library must share their frame size and rate; got "
                        + ", ".join(f"{v.name} {n.info.width}x{n.info.height} at {n.info.fps:g} fps"
                                    for v, n in zip(videos, normals)) + ".")
    used = [max(1, int(round(n.info.frames * (1 - heldout)))) for n in normals]
    total, done = sum(used), 0

    def tick() -> None:
        nonlocal done
        done += 1
        if on_progress:
            on_progress(done, total)

    parts = []
    for video, normal, count in zip(videos, normals, used):
        saved = work / f"{normal.video.stem}-{count}-landmarks.npy"  # normalised name: source hash + frames
        if saved.is_file():
            parts.append(np.load(saved, allow_pickle=False))
            for _ in range(count):
                tick()
            continue
        points = _track(normal.video, count, track, tick)
        with atomic_path(saved) as part, open(part, "wb") as f:
            np.save(f, points)
        parts.append(points)
    landmarks = np.concatenate(parts)
    valid = ~np.isnan(landmarks).any((1, 2))
    if valid.mean() < 0.5:  # nothing worth resuming: the inputs themselves are unusable
        shutil.rmtree(work, ignore_errors=True)
        raise UserError(f"{', '.join(v.name for v in videos)}: a face was found in only {valid.mean():.0%} of "
                        "frames; a library needs video of one person facing the camera.")
    landmarks[~valid] = 0
    continues = np.concatenate([np.arange(count) > 0 for count in used])
    features = np.zeros((len(valid), len(FEATURES)), np.float32)
    features[valid] = np.stack([face_features(p) for p in landmarks[valid]])
    features = relative_mouth(features, valid)
    info = normals[0].info
    with atomic_folder(out) as staging:
        with VideoWriter(staging / "frames.mp4", info.width, info.height, info.fps, crf=crf, preset="slow",
                         keyframe_every=48) as writer:
            for normal, count in zip(normals, used):
                for frame in iter_frames(normal.video, max_frames=count):
                    writer.write(frame.rgb)
        if writer.frames != total or probe(staging / "frames.mp4").frames != total:
            raise UserError(f"re-encoding the library video gave {probe(staging / 'frames.mp4').frames} frames "
                            f"instead of {total}.")
        np.savez_compressed(staging / "index.npz", landmarks=landmarks, features=features, valid=valid,
                            continues=continues, fps=np.float64(info.fps))
        sources = [{"name": v.name, "sha256": file_sha256(v), "frames": n.info.frames, "used": count,
                    "heldout_from": count if count < n.info.frames else None}
                   for v, n, count in zip(videos, normals, used)]
        meta = {"source": ", ".join(v.name for v in videos), "sources": sources, "heldout": heldout,
                "width": info.width, "height": info.height, "frames": total, "fps": info.fps,
                "faces": int(valid.sum()), "features": list(FEATURES), "crf": crf,
                "built": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        (staging / "library.json").write_text(json.dumps(meta, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return DriverLibrary.load(out)
