"""How good is a swap presenter model? Render held-out driver frames and measure them.

- identity: share of rendered frames that face_recognition matches (`metrics.identity.TOLERANCE`)
  to the presenter and to the driver, each the mean embedding of their training faces
  (`reference_from_folder`);
- expression: Pearson r between the driver's and the rendered presenter's mouth opening, over
  all frames and over the liveliest stretch (the window where the driver's mouth moves most);
- reconstruction: SSIM of presenter faces re-drawn by the model (B -> B);
- flicker: frame-to-frame change of the rendered face's mean colour, with and without the
  temporal colour smoothing, next to the driver's own.
`evaluate_and_record` adds the realism table (`offline.realism`) and writes both into the model card.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from avatar.config import RenderConfig
from avatar.dataset import load_faces
from avatar.inference import load_swap_model
from avatar.media import iter_frames, normalize
from avatar.paths import atomic_write
from avatar.metrics.expression import pearson
from avatar.metrics.identity import TOLERANCE, face_embedding, reference_from_folder
from avatar.metrics.image import face_flicker, ssim
from avatar.offline.realism import RealismSets, realism, update_realism_card
from avatar.presenter import open_presenter, set_card_section
from avatar.render.swap import SwapRenderer
from avatar.vision import align_face, choose_face, detect_faces, hull_mask, landmarks_68, mouth_opening, transform_points


def _face(rgb):
    chosen, _ = choose_face(detect_faces(rgb), rgb.shape[1], rgb.shape[0])
    return None if chosen is None else (chosen, landmarks_68(rgb, chosen.box))


def _liveliest_window_r(driver: list[float], rendered: list[float], window: int) -> float:
    if len(driver) <= window:
        return pearson(driver, rendered)
    spreads = [np.std(driver[i:i + window]) for i in range(0, len(driver) - window + 1, window // 4)]
    start = int(np.argmax(spreads)) * (window // 4)
    return pearson(driver[start:start + window], rendered[start:start + window])


def evaluate(model_path: Path, driver_video: Path, presenter_faces: Path, driver_faces: Path, start: int = 0,
             frames: int = 800, config: RenderConfig = RenderConfig(), work_dir: Path | None = None,
             on_progress: Callable[[int, int], None] | None = None) -> dict:
    """Measure a presenter model on `frames` driver frames from `start` (never used in training)."""
    model = load_swap_model(open_presenter(model_path).onnx)
    presenter = reference_from_folder("presenter", presenter_faces)
    driver_ref = reference_from_folder("driver", driver_faces)
    normal = normalize(driver_video, Path(work_dir or Path(driver_video).parent / ".avatar-work"))
    clip = [f for f in iter_frames(normal.video, start=start, max_frames=frames)]

    results = {"frames": len(clip), "start": start}
    rendered_faces = 0
    matches_presenter = matches_driver = 0
    opening_driver, opening_rendered = [], []
    flicker = {}
    for smoothing in (config.smoothing, 0.0):
        renderer = SwapRenderer(model, replace(config, smoothing=smoothing))
        crops, masks = [], []
        for i, (frame, out) in enumerate(renderer.process(clip)):
            driver_face = _face(frame.rgb)
            if driver_face is None:
                continue
            crop, matrix = align_face(out, driver_face[1], model.size)
            crops.append(crop)
            masks.append(hull_mask(transform_points(driver_face[1], matrix), model.size, model.size, erode=3))
            if smoothing != config.smoothing:
                continue
            if on_progress:
                on_progress(i + 1, len(clip))
            rendered = _face(out)
            if rendered is None:
                continue
            rendered_faces += 1
            embedding = face_embedding(out, rendered[0].box)
            matches_presenter += presenter.matches(embedding)
            matches_driver += driver_ref.matches(embedding)
            opening_driver.append(mouth_opening(driver_face[1]))
            opening_rendered.append(mouth_opening(rendered[1]))
        flicker[smoothing] = face_flicker(crops, masks)
    driver_crops, driver_masks = [], []
    for frame in clip:
        found = _face(frame.rgb)
        if found:
            crop, matrix = align_face(frame.rgb, found[1], model.size)
            driver_crops.append(crop)
            driver_masks.append(hull_mask(transform_points(found[1], matrix), model.size, model.size, erode=3))

    b_faces = load_faces("presenter", presenter_faces, model.size, max_faces=64)
    b_crops = b_faces.crops
    b_out, _ = model.run(b_crops, b_faces.landmarks)

    n = max(len(clip), 1)
    results.update({
        "rendered_faces_found": rendered_faces,
        "match_presenter": round(matches_presenter / n, 4),
        "match_driver": round(matches_driver / n, 4),
        "mouth_r": round(pearson(opening_driver, opening_rendered), 4),
        "mouth_r_liveliest_200": round(_liveliest_window_r(opening_driver, opening_rendered, 200), 4),
        "driver_mouth_opening_std": round(float(np.std(opening_driver)), 4) if opening_driver else None,
        "ssim_b_to_b": round(float(np.mean([ssim(a, b) for a, b in zip(b_crops, b_out)])), 4),
        "flicker_smoothed": round(flicker[config.smoothing], 4),
        "flicker_unsmoothed": round(flicker[0.0], 4),
        "flicker_driver": round(face_flicker(driver_crops, driver_masks), 4),
        "smoothing": config.smoothing,
        "provider": model.providers[0],
    })
    return results


CARD_HEADING = "Measured quality"


def update_model_card(folder: Path, result: dict, driver_name: str) -> Path | None:
    """Replace (or add) the measured-quality section of `folder/MODEL_CARD.md`."""
    end = result["start"] + result["frames"] - 1
    rows = [
        ("frames rendered", f"{result['frames']} ({driver_name} frames {result['start']}-{end}, never trained on)"),
        (f"face_recognition matches presenter (tolerance {TOLERANCE:g})", f"{result['match_presenter']:.1%}"),
        (f"face_recognition matches driver (tolerance {TOLERANCE:g})", f"{result['match_driver']:.1%}"),
        ("mouth follows driver: Pearson r of inner-lip opening / eye distance", f"{result['mouth_r']:.3f}"),
        ("same, liveliest 200-frame stretch", f"{result['mouth_r_liveliest_200']:.3f}"),
        ("B->B reconstruction SSIM (64 presenter training faces)", f"{result['ssim_b_to_b']:.3f}"),
        ("face colour flicker, Lab units/frame: smoothed / unsmoothed / driver's own",
         f"{result['flicker_smoothed']:.3f} / {result['flicker_unsmoothed']:.3f} / {result['flicker_driver']:.3f}"),
    ]
    lines = [f"Measured by `avatar swap evaluate` (onnxruntime on {result['provider']}).", "",
             "| measure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return set_card_section(folder, CARD_HEADING, "\n".join(lines))


# -- realism: does the rendered face look like the real presenter? -----------------------------

# Sentences for the synthesised-answer set: the app's own path, about 25 s of speech together.


def evaluate_and_record(model_path: Path, driver_video: Path, presenter_faces: Path, driver_faces: Path,
                        start: int = 0, frames: int = 800, sets: RealismSets | None = None, work: Path | None = None,
                        json_out: Path | None = None, on_progress: Callable[[int, int], None] | None = None,
                        on_stage: Callable[[str], None] = lambda stage: None) -> tuple[dict, Path | None]:
    """`avatar swap evaluate`: `evaluate` the model on driver frames [start, start + frames),
    with `sets` also its `realism` (on at most 400 of those frames), write the result to
    `json_out`, and record both in the model card when `model_path` is a model folder. `work`
    keeps the rendered videos (work/video, work/realism; default: a temporary folder).
    Returns the result and the card written (None without one)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="avatar-realism-") as scratch:
        realism_work = Path(work) / "realism" if work is not None else Path(scratch)
        result = evaluate(model_path, driver_video, presenter_faces, driver_faces, start=start, frames=frames,
                          work_dir=Path(work) / "video" if work is not None else None, on_progress=on_progress)
        if sets is not None:
            shutil.rmtree(realism_work, ignore_errors=True)  # a fresh start: rendered faces are found again
            result["realism"] = realism(model_path, sets.heldout, sets.same_person, sets.other_person, driver_video,
                                        start, min(frames, 400), realism_work, heldout_start=sets.heldout_start,
                                        render=sets.render, unseen=sets.unseen, scenes=sets.scenes, on_stage=on_stage)
    if json_out is not None:
        atomic_write(json_out, json.dumps(result, indent=1) + "\n")
    card = update_model_card(model_path, result, Path(driver_video).name) if Path(model_path).is_dir() else None
    if card and "realism" in result:
        update_realism_card(model_path, result["realism"])
    return result, card
