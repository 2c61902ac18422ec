"""`avatar extract`: talking-face videos -> a training dataset of aligned whole-face crops.

The output folder's format (crops, manifest, rejects) is owned by `avatar.dataset`.
Re-running with the same inputs skips every frame already kept or rejected, so an interrupted
extraction resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from avatar.config import ExtractConfig
from avatar.dataset import CROPS, WORK, DatasetWriter, content_key, done_frames
from avatar.errors import UserError
from avatar.media import Frame, iter_frames, normalize, probe
from avatar.paths import file_sha256, writable_dir
from avatar.vision import (NO_FACE, SEVERAL_FACES, TEMPLATE_68, FaceTracker, align_face, matrix_scale,
                           sharpness, transform_points)

TOO_SMALL = "too small"
TOO_BLURRY = "too blurry"
REASONS = (NO_FACE, SEVERAL_FACES, TOO_SMALL, TOO_BLURRY)

# Width of the template's jaw line as a share of the crop side: turns the alignment scale into
# the face's width in source pixels, independent of head turn.
_FACE_WIDTH = float(TEMPLATE_68[16, 0] - TEMPLATE_68[0, 0])


@dataclass
class ExtractSummary:
    """Counts over one `extract` call: frames kept, already done earlier, dropped by reason."""

    kept: int = 0
    already_done: int = 0
    dropped: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)  # damaged lines an earlier run left, skipped

    def describe(self) -> str:
        reasons = ", ".join(f"{reason} {self.dropped[reason]}" for reason in REASONS)
        seen = self.kept + sum(self.dropped.values())
        text = f"kept {self.kept} of {seen} frames; dropped: {reasons}"
        if self.already_done:
            text += f"; {self.already_done} frames already done earlier were skipped"
        return text


def source_id(path: Path) -> str:
    """Stable short name of an input video: its stem plus a hash of its size and first MiB."""
    digest = hashlib.sha1(str(path.stat().st_size).encode())
    with open(path, "rb") as f:
        digest.update(f.read(1 << 20))
    return f"{path.stem}-{digest.hexdigest()[:8]}"


def _distinct(videos: list[Path]) -> list[Path]:
    """Each input once: the same file given twice, or a byte-identical copy, is extracted once."""
    seen, distinct = set(), []
    for video in videos:
        if not video.is_file():
            distinct.append(video)  # probe explains what is wrong with it
            continue
        digest = file_sha256(video)
        if digest not in seen:
            seen.add(digest)
            distinct.append(video)
    return distinct


def frames_to_consider(frames: int, config: ExtractConfig) -> int:
    """How many of a video's `frames` an extraction looks at, after `every` and `max_frames`."""
    total = math.ceil(max(frames - config.start, 0) / config.every)
    return total if config.max_frames is None else min(total, config.max_frames)


def extract(videos: list[Path], out: Path, config: ExtractConfig = ExtractConfig(),
            on_progress: Callable[[int, int], None] | None = None) -> ExtractSummary:
    """Extract aligned crops from every video into `out`; returns the counts.

    Every input is probed before anything is written, so one bad file refuses the whole call
    with a `MediaError` and leaves `out` untouched. `on_progress(done, total)` is called after
    each frame looked at (kept, dropped or already done), for progress bars.
    """
    if not 64 <= config.size <= 512:
        raise UserError(f"--size must be between 64 and 512 pixels, got {config.size}.")
    if config.every < 1:
        raise UserError(f"--every must be 1 or more, got {config.every}.")
    videos = _distinct([Path(v) for v in videos])
    infos = [probe(video, config.limits) for video in videos]
    writable_dir(out / CROPS, "dataset folder")
    done, warnings = done_frames(out)
    summary = ExtractSummary(warnings=warnings)
    total = sum(frames_to_consider(info.frames, config) for info in infos)
    looked_at = 0
    with DatasetWriter(out, config.png_compression) as writer:
        for video in videos:
            sid = source_id(video)
            normal = normalize(video, out / WORK, config.limits, with_audio=False)
            tracker = FaceTracker(config.track)
            for frame in iter_frames(normal.video, every=config.every, max_frames=config.max_frames,
                                     start=config.start):
                if (content_key(sid), frame.index) in done:
                    summary.already_done += 1
                else:
                    _process(frame, tracker, video, sid, config, writer, summary)
                looked_at += 1
                if on_progress:
                    on_progress(looked_at, total)
    return summary


def _process(frame: Frame, tracker: FaceTracker, video: Path, sid: str, config: ExtractConfig,
             writer: DatasetWriter, summary: ExtractSummary) -> None:
    face, reason = tracker.update(frame.rgb, frame.time)
    if face is not None:
        crop, matrix = align_face(frame.rgb, face.landmarks, config.size)
        face_width = _FACE_WIDTH * config.size / matrix_scale(matrix)
        score = sharpness(crop)
        if face_width < config.min_face:
            reason = TOO_SMALL
        elif score < config.min_sharpness:
            reason = TOO_BLURRY
    if reason is not None:
        summary.dropped[reason] += 1
        writer.reject({"source": video.name, "source_id": sid, "frame": frame.index,
                       "time": round(frame.time, 4), "reason": reason})
        return
    summary.kept += 1
    name = f"{CROPS}/{sid}_{frame.index:06d}.png"
    record = {
        "source": video.name, "source_id": sid, "frame": frame.index, "time": round(frame.time, 4),
        "crop": name, "size": config.size, "box": [round(v, 1) for v in face.box],
        "detected": face.detected, "face_width": round(face_width, 1), "sharpness": round(score, 1),
        "matrix": np.round(matrix, 6).tolist(),
        "landmarks_source": np.round(face.landmarks, 2).tolist(),
        "landmarks_crop": np.round(transform_points(face.landmarks, matrix), 2).tolist(),
    }
    writer.keep(name, crop, record)
