"""`avatar extract`: talking-face videos -> a training dataset of aligned whole-face crops.

Layout of the output folder:
    crops/<source_id>_<frame:06d>.png   aligned crops, RGB PNG, size x size
    manifest.jsonl                      one JSON object per kept frame (see `_record`)
    rejects.jsonl                       one JSON object per dropped frame, with its reason
    .work/                              normalised copies of inputs that needed one

Re-running with the same inputs skips every frame already kept or rejected, so an interrupted
extraction resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from avatar.config import ExtractConfig
from avatar.paths import file_sha256, writable_dir
from avatar.errors import UserError
from avatar.media import Frame, iter_frames, normalize, probe
from avatar.vision import (NO_FACE, SEVERAL_FACES, TEMPLATE_68, FaceTracker, align_face, matrix_scale,
                           sharpness, transform_points)

MANIFEST = "manifest.jsonl"
REJECTS = "rejects.jsonl"
CROPS = "crops"
WORK = ".work"
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
    total = math.ceil(frames / config.every)
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
    done = _load_done(out)
    summary = ExtractSummary()
    total = sum(frames_to_consider(info.frames, config) for info in infos)
    looked_at = 0
    with _DatasetWriter(out, config.png_compression) as writer:
        for video in videos:
            sid = source_id(video)
            normal = normalize(video, out / WORK, config.limits, with_audio=False)
            tracker = FaceTracker(config.track)
            for frame in iter_frames(normal.video, every=config.every, max_frames=config.max_frames):
                if (sid, frame.index) in done:
                    summary.already_done += 1
                else:
                    _process(frame, tracker, video, sid, config, writer, summary)
                looked_at += 1
                if on_progress:
                    on_progress(looked_at, total)
    return summary


def _process(frame: Frame, tracker: FaceTracker, video: Path, sid: str, config: ExtractConfig,
             writer: _DatasetWriter, summary: ExtractSummary) -> None:
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


def _load_done(out: Path) -> set[tuple[str, int]]:
    """(source_id, frame) pairs already kept or rejected by an earlier run."""
    done = set()
    for name in (MANIFEST, REJECTS):
        path = out / name
        if not path.exists():
            continue
        _drop_torn_last_line(path)
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if name == REJECTS or (out / record["crop"]).exists():
                done.add((record["source_id"], record["frame"]))
    return done


def _drop_torn_last_line(path: Path) -> None:
    """A run killed mid-write can leave half a line at the end: cut it off."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


class _DatasetWriter:
    """Writes crops and JSON lines on a background thread, in submission order.

    PNG encoding (cv2 releases the GIL) overlaps with detection on the main thread. A manifest
    line is written only after its PNG is on disk, so a kept record always has its crop.
    """

    def __init__(self, out: Path, png_compression: int):
        self.out = out
        self.png_params = [cv2.IMWRITE_PNG_COMPRESSION, png_compression]
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._pending = []
        self._manifest = open(out / MANIFEST, "a")
        self._rejects = open(out / REJECTS, "a")

    def keep(self, name: str, crop: np.ndarray, record: dict) -> None:
        self._submit(self._write_crop, name, crop, record)

    def reject(self, record: dict) -> None:
        self._submit(self._append, self._rejects, record)

    def _submit(self, fn, *args) -> None:
        self._pending.append(self._pool.submit(fn, *args))
        if len(self._pending) > 64:  # bound memory; surface write errors early
            self._pending.pop(0).result()

    def _write_crop(self, name: str, crop: np.ndarray, record: dict) -> None:
        ok, png = cv2.imencode(".png", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), self.png_params)
        if not ok:
            raise OSError(f"could not encode {name} as PNG")
        (self.out / name).write_bytes(png.tobytes())
        self._append(self._manifest, record)

    @staticmethod
    def _append(file, record: dict) -> None:
        file.write(json.dumps(record, separators=(",", ":")) + "\n")
        file.flush()

    def __enter__(self) -> _DatasetWriter:
        return self

    def __exit__(self, *exc) -> None:
        try:
            for future in self._pending:
                future.result()
        finally:
            self._pool.shutdown(wait=True)
            self._manifest.close()
            self._rejects.close()


def read_manifest(folder: Path, max_faces: int | None = None) -> list[dict]:
    """The kept faces of an extract folder (its manifest records), evenly thinned to `max_faces`
    when there are more; UserError when it is not an extract folder or holds no faces."""
    manifest = Path(folder) / MANIFEST
    if not manifest.is_file():
        raise UserError(f"{folder} is not a dataset made by `avatar extract` (no {MANIFEST}).")
    records = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    if not records:
        raise UserError(f"{folder} holds no faces: run `avatar extract` on a video with a visible face.")
    if max_faces and len(records) > max_faces:
        records = [records[i] for i in np.linspace(0, len(records) - 1, max_faces).round().astype(int)]
    return records


def pack_faceset(source: Path, target: Path, max_faces: int = 600, quality: int = 92) -> int:
    """A compact copy of the extract folder `source` in `target`: at most `max_faces` faces
    evenly spread over it, crops as JPEG. Shipped beside a model so that it can be adapted to a
    new driver later (warm-start training needs the presenter's faces). Returns the faces kept."""
    source, target = Path(source), Path(target)
    records = read_manifest(source, max_faces)
    (target / CROPS).mkdir(parents=True, exist_ok=True)
    lines = []
    for record in records:
        image = cv2.imread(str(source / record["crop"]), cv2.IMREAD_COLOR)
        if image is None:
            raise UserError(f"{source / record['crop']} is missing or unreadable; re-run `avatar extract`.")
        crop = f"{CROPS}/{Path(record['crop']).stem}.jpg"
        cv2.imwrite(str(target / crop), image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        lines.append(json.dumps({**record, "crop": crop}) + "\n")
    (target / MANIFEST).write_text("".join(lines))
    return len(records)
