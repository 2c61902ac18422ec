"""The picture beside `bench/realism.py --people`: per person, real held-out frames, synthesised
answers and the recorded driver, whole and with the eyes and mouth zoomed.

    python bench/realism.py --people --work DIR      # keeps the rendered videos in DIR
    python bench/realism_figure.py DIR docs/realism-people.jpg

Rows per person: his real held-out frames (the reference), frames of his synthesised answers, of
the recorded driver; each frame whole, then its face zoomed 2x (crop around the landmarks found
again in the video, as the table measures them).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from avatar.dataset import read_manifest
from avatar.media import read_frames

HEIGHT = 180  # each tile's height, px


def _tiles(video: Path, faces: Path, count: int = 3) -> list[np.ndarray]:
    """`count` evenly spaced frames of `video` with a face found in `faces` (an extract folder):
    whole, then the face zoomed, as RGB tiles HEIGHT high."""
    records = [r for r in read_manifest(faces)]
    picks = [records[int(i)] for i in np.linspace(len(records) * 0.2, len(records) * 0.8, count).round()]
    frames = read_frames(video, sorted({r["frame"] for r in picks}))
    tiles = []
    for record in picks:
        rgb = frames[record["frame"]]
        tiles.append(cv2.resize(rgb, (round(rgb.shape[1] * HEIGHT / rgb.shape[0]), HEIGHT), interpolation=cv2.INTER_AREA))
        points = np.asarray(record["landmarks_source"], np.float64)
        low, high = points.min(0), points.max(0)
        centre, side = (low + high) / 2, (high - low).max() * 1.15
        x0, y0 = np.maximum((centre - side / 2).astype(int), 0)
        face = rgb[y0:y0 + int(side), x0:x0 + int(side)]
        tiles.append(cv2.resize(face, (HEIGHT, HEIGHT), interpolation=cv2.INTER_CUBIC))
    return tiles


def _row(tiles: list[np.ndarray], label: str) -> np.ndarray:
    row = np.hstack(tiles)
    cv2.putText(row, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 2, cv2.LINE_AA)
    cv2.putText(row, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="the --work folder of `bench/realism.py --people`")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    rows = []
    for person in sorted(p for p in args.work.iterdir() if (p / "recorded.mp4").is_file()):
        answers = sorted((person / "service" / "answers").glob("[0-9a-f]*.mp4"))
        answers = [a for a in answers if (person / f"{a.stem}-faces").is_dir()]
        rows.append(_row(_tiles(person / "reference-0.mp4", person / "reference-0-faces"), f"{person.name}: real"))
        rows.append(_row(_tiles(answers[0], person / f"{answers[0].stem}-faces"), f"{person.name}: answer"))
        rows.append(_row(_tiles(person / "recorded.mp4", person / "recorded-faces"), f"{person.name}: recorded"))
    width = max(r.shape[1] for r in rows)
    canvas = np.vstack([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    cv2.imwrite(str(args.out), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(args.out)


if __name__ == "__main__":
    main()
