"""The training-dataset format that `avatar extract` writes and training, export and evaluation
read. A dataset folder holds:

    crops/<source_id>_<frame:06d>.png   aligned crops, RGB, size x size (JPEG in packed sets)
    manifest.jsonl                      one JSON object per kept frame (see README)
    rejects.jsonl                       one JSON object per dropped frame, with its reason
    .work/                              normalised copies of inputs that needed one

Lines are appended as frames are processed, so a killed run leaves a readable dataset (at worst
a torn last line, cut off on the next run) and a re-run resumes.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from avatar.errors import UserError
from avatar.paths import atomic_folder, atomic_write

MANIFEST = "manifest.jsonl"
REJECTS = "rejects.jsonl"
CROPS = "crops"
WORK = ".work"


def content_key(sid: str) -> str:
    """The content part of a source id: a renamed copy of a video is the same video."""
    return sid.rsplit("-", 1)[-1]


REQUIRED = {MANIFEST: ("source_id", "frame", "crop"), REJECTS: ("source_id", "frame")}


def read_lines(path: Path) -> tuple[list[dict], list[str]]:
    """The records of the JSON-lines file `path` (manifest or rejects) and a description of
    each damaged line (not JSON, not an object, or lacking a field every record has)."""
    records, damaged = [], []
    required = REQUIRED.get(Path(path).name, ())
    for number, line in enumerate(Path(path).read_bytes().split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            missing = [key for key in required if key not in record]
            if missing:
                raise ValueError(f"no {', '.join(missing)}")
            records.append(record)
        except ValueError as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            damaged.append(f"{Path(path).name} line {number} is damaged ({str(error)[:80]})")
    return records, damaged


def done_frames(out: Path) -> tuple[set[tuple[str, int]], list[str]]:
    """(source content, frame) pairs already kept or rejected by an earlier run, and warnings.

    The manifest and rejects are rewritten clean first (atomically): a torn last line, damaged
    lines (each warned about by its line number), repeated frames and records whose crop is
    gone are dropped, so the frames they stood for are extracted again, once."""
    done, warnings = set(), []
    for name in (MANIFEST, REJECTS):
        path = out / name
        if not path.exists():
            continue
        records, damaged = read_lines(path)
        warnings += damaged
        kept = []
        for record in records:
            key = (content_key(str(record["source_id"])), record["frame"])
            if key in done or (name == MANIFEST and not (out / str(record["crop"])).is_file()):
                continue
            done.add(key)
            kept.append(json.dumps(record, separators=(",", ":")) + "\n")
        if len(kept) < len(records) or damaged or not path.read_bytes().endswith(b"\n"):
            atomic_write(path, "".join(kept))  # only when something had to go
    return done, warnings


class DatasetWriter:
    """Writes crops and JSON lines on a background thread, in submission order.

    PNG encoding (cv2 releases the GIL) overlaps with detection on the main thread. A manifest
    line is written only after its PNG is on disk, so a kept record always has its crop.
    """

    def __init__(self, out: Path, png_compression: int):
        self.out = out
        self.png_params = [cv2.IMWRITE_PNG_COMPRESSION, png_compression]
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._pending = []
        # Unbuffered: a line that could not be written whole is cut off again at once (see _append).
        self._manifest = open(out / MANIFEST, "ab", buffering=0)
        self._rejects = open(out / REJECTS, "ab", buffering=0)

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
        atomic_write(self.out / name, png.tobytes())  # whole or not at all (a full disk)
        try:
            self._append(self._manifest, record)
        except OSError:
            (self.out / name).unlink(missing_ok=True)  # a crop without its record would be a stray
            raise

    @staticmethod
    def _append(file, record: dict) -> None:
        """Append one line whole, or nothing: on a failed write the file is cut back."""
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        start = file.seek(0, 2)
        try:
            view = memoryview(data)
            while view:
                view = view[file.write(view):]
        except OSError:
            file.truncate(start)
            raise

    def __enter__(self) -> DatasetWriter:
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
    records, damaged = read_lines(manifest)
    if damaged:
        raise UserError(f"{folder}/{damaged[0]}; run `avatar extract` into the folder again to repair it"
                        + (f" ({len(damaged) - 1} more damaged lines)." if len(damaged) > 1 else "."))
    if not records:
        raise UserError(f"{folder} holds no faces: run `avatar extract` on a video with a visible face.")
    return evenly(records, max_faces)


def evenly(items: list, count: int | None) -> list:
    """`count` of `items` evenly spread over them, first and last included (all when there are
    no more than `count`, or `count` is None): how every reader of a set thins it."""
    if not count or len(items) <= count:
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


@dataclass
class FaceSet:
    """Aligned faces of one set, in dataset order. crops: (N, S, S, 3) uint8 RGB; landmarks:
    (N, 68, 2) float32 in crop pixels; frame_landmarks: (N, 68, 2) float32 in source-frame
    pixels; frames: (N,) int source frame indices."""

    name: str
    crops: np.ndarray
    landmarks: np.ndarray
    frame_landmarks: np.ndarray
    frames: np.ndarray

    def __len__(self) -> int:
        return len(self.crops)


def resize_face(crop: np.ndarray, landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """An (S, S, 3) crop and its (68, 2) landmarks at `size` px (area-averaged down, cubic up)."""
    scale = size / crop.shape[0]
    if crop.shape[0] != size:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    return crop, (np.asarray(landmarks, np.float32) * scale).astype(np.float32)


def load_faces(name: str, folder: Path, size: int | None = None, start: int = 0,
               max_faces: int | None = None) -> FaceSet:
    """The faces of the dataset `folder` from source frame `start` on, evenly thinned to
    `max_faces`, at `size` px (default: their own side). The one reader of the format's crops."""
    folder = Path(folder)
    records = evenly([r for r in read_manifest(folder) if r["frame"] >= start], max_faces)
    if not records:
        raise UserError(f"{folder} holds no faces from frame {start} on.")
    crops, landmarks = [], []
    for record in records:
        bgr = cv2.imread(str(folder / record["crop"]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise UserError(f"{folder / record['crop']} is missing or unreadable; re-run `avatar extract`.")
        crop, points = resize_face(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), record["landmarks_crop"], size or bgr.shape[0])
        crops.append(crop)
        landmarks.append(points)
    return FaceSet(name, np.stack(crops), np.stack(landmarks),
                   np.stack([np.asarray(r["landmarks_source"], np.float32) for r in records]),
                   np.array([r["frame"] for r in records]))


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


def write_subset(source: Path, target: Path, records: list[dict], note: dict | None = None) -> int:
    """Copy the faces `records` (manifest records of the dataset `source`) into the new dataset
    `target` (crops and manifest; `note` goes to `target/subset.json` with the count). Written
    to a temporary folder and renamed, so a dataset is never left half made. Returns the count."""
    source, target = Path(source), Path(target)
    with atomic_folder(target) as tmp:
        (tmp / CROPS).mkdir(parents=True)
        lines = []
        for record in records:
            crop = source / record["crop"]
            if not crop.is_file():
                raise UserError(f"{crop} is missing; re-run `avatar extract`.")
            name = f"{CROPS}/{crop.name}"
            (tmp / name).write_bytes(crop.read_bytes())
            lines.append(json.dumps({**record, "crop": name}, separators=(",", ":")) + "\n")
        (tmp / MANIFEST).write_text("".join(lines))
        (tmp / "subset.json").write_text(json.dumps({"source": str(source), "faces": len(records),
                                                     **(note or {})}, indent=1) + "\n")
    return len(records)
