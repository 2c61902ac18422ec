"""A driver library: every frame of a real talking-face video, indexed by mouth shape and pose.

Folder layout:
    frames.mp4    the video, normalised (constant frame rate, even size), re-encoded compactly
    index.npz     per frame: landmarks (N, 68, 2) float32 source pixels, features (N, 7) float32,
                  valid (N,) bool (a face was tracked), fps
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
from avatar.media.ffmpeg import run_ffmpeg
from avatar.paths import atomic_folder
from avatar.vision import FaceTracker, eye_centres, mouth_opening

# The shipped library, built from franck.mp4 (see assets/PROVENANCE.md).
DEFAULT_LIBRARY = Path(__file__).resolve().parents[2] / "assets" / "driver" / "default"

FEATURES = ("opening", "width", "roundness", "roll", "yaw", "pitch", "eyes")
MOUTH = slice(0, 3)  # the features a viseme target is compared with
POSE = slice(3, 6)


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
    folder: Path
    landmarks: np.ndarray  # (N, 68, 2) float32
    features: np.ndarray  # (N, 7) float32
    valid: np.ndarray  # (N,) bool
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
            raise UserError(f"{folder} is not a driver library (run `avatar driver build VIDEO --out {folder}`).")
        with np.load(folder / "index.npz", allow_pickle=False) as index:
            data = {k: index[k] for k in index.files}
        meta = json.loads((folder / "library.json").read_text())
        return cls(folder, data["landmarks"], data["features"], data["valid"].astype(bool), float(data["fps"]), meta)

    def frames(self, indices: list[int]) -> dict[int, np.ndarray]:
        """RGB uint8 frames for the given library frame indices."""
        return read_frames(self.video, indices)


def build_library(video: Path, out: Path, track: TrackConfig = TrackConfig(), crf: int = 26,
                  limits: MediaLimits = MediaLimits(),
                  on_progress: Callable[[int, int], None] | None = None) -> DriverLibrary:
    """Index every frame of `video` into the library folder `out` (replaced atomically)."""
    out = Path(out)
    with atomic_folder(out) as staging:
        normal = normalize(video, staging / "work", limits, with_audio=False)
        info = normal.info
        landmarks = np.zeros((info.frames, 68, 2), np.float32)
        features = np.zeros((info.frames, len(FEATURES)), np.float32)
        valid = np.zeros(info.frames, bool)
        tracker = FaceTracker(track)
        count = 0
        for frame in iter_frames(normal.video):
            if frame.index >= info.frames:
                break
            face, _ = tracker.update(frame.rgb, frame.time)
            if face is not None:
                landmarks[frame.index] = face.landmarks
                features[frame.index] = face_features(face.landmarks)
                valid[frame.index] = True
            count += 1
            if on_progress:
                on_progress(count, info.frames)
        if valid.mean() < 0.5:
            raise UserError(f"{Path(video).name}: a face was found in only {valid.mean():.0%} of frames; a driver "
                            "library needs a video of one person facing the camera.")
        features = relative_mouth(features, valid)
        run_ffmpeg(["-i", str(normal.video), "-c:v", "libx264", "-preset", "slow", "-crf", str(crf),
                    "-pix_fmt", "yuv420p", "-g", "48", "-movflags", "+faststart", str(staging / "frames.mp4")],
                   what=f"Encoding the library video of {Path(video).name}")
        encoded = probe(staging / "frames.mp4")
        if encoded.frames != info.frames:
            raise UserError(f"re-encoding {Path(video).name} gave {encoded.frames} frames instead of {info.frames}.")
        np.savez_compressed(staging / "index.npz", landmarks=landmarks, features=features, valid=valid,
                            fps=np.float64(info.fps))
        meta = {"source": Path(video).name, "width": info.width, "height": info.height, "frames": info.frames,
                "fps": info.fps, "faces": int(valid.sum()), "features": list(FEATURES), "crf": crf,
                "built": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        (staging / "library.json").write_text(json.dumps(meta, indent=1) + "\n")
        shutil.rmtree(staging / "work", ignore_errors=True)
    return DriverLibrary.load(out)
