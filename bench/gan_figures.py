"""Figures for docs/gan.md from a GAN run and generated sets (JPEG, labelled rows).

    python bench/gan_figures.py --run RUN --sets DIR [DIR ...] --out docs/

- gan-progress.jpg: the first `--faces` faces of the run's snapshots (the EMA generator on fixed
  latents, const noise) at up to 8 evenly spaced checkpoints, one row each, labelled with kimg.
- gan-selections.jpg: the first `--faces` crops of each generated set (`avatar gan generate`
  folders), one row per set, labelled with the set's selection.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from avatar.dataset import read_manifest


def _row(images: list[np.ndarray], label: str, side: int) -> np.ndarray:
    tiles = [cv2.resize(im, (side, side), interpolation=cv2.INTER_AREA if im.shape[0] > side else cv2.INTER_CUBIC)
             for im in images]
    header = np.full((side, 150, 3), 255, np.uint8)
    for i, line in enumerate(label.split("\n")):
        cv2.putText(header, line, (6, 24 + 20 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([header, *tiles], 1)


def progress(run: Path, faces: int, side: int) -> np.ndarray:
    snapshots = sorted((run / "snapshots").glob("step_*.png"))
    picks = [snapshots[i] for i in np.unique(np.linspace(0, len(snapshots) - 1, min(8, len(snapshots))).round().astype(int))]
    stats = {json.loads(line)["step"]: json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()}
    rows = []
    for path in picks:
        grid = cv2.imread(str(path))
        size = grid.shape[1] // 6  # snapshots are 6 faces wide
        tiles = [grid[(i // 6) * size:(i // 6 + 1) * size, (i % 6) * size:(i % 6 + 1) * size] for i in range(faces)]
        step = int(path.stem.split("_")[1])
        kimg = stats.get(step, {}).get("kimg", step * 16 / 1000)
        rows.append(_row(tiles, f"{kimg:g} kimg", side))
    return np.concatenate(rows, 0)


def selections(folders: list[Path], faces: int, side: int) -> np.ndarray:
    rows = []
    for folder in folders:
        records = read_manifest(folder)[:faces]
        chosen = json.loads((folder / "selection.json").read_text())
        tiles = [cv2.imread(str(folder / r["crop"])) for r in records]
        rows.append(_row(tiles, f"{chosen['selection']}\n{chosen['selected']} of {chosen['candidates']}", side))
    return np.concatenate(rows, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--sets", type=Path, nargs="*", default=[])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--faces", type=int, default=10)
    parser.add_argument("--side", type=int, default=96)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out / "gan-progress.jpg"), progress(args.run, args.faces, args.side),
                [cv2.IMWRITE_JPEG_QUALITY, 90])
    if args.sets:
        cv2.imwrite(str(args.out / "gan-selections.jpg"), selections(args.sets, args.faces, args.side),
                    [cv2.IMWRITE_JPEG_QUALITY, 90])


if __name__ == "__main__":
    main()
