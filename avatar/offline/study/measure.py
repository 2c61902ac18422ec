"""Measuring the study's models on held-out driver frames, through the network alone (the
compositing that follows is the same for every model, so it cannot separate them); see the
package docstring for the measures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar.dataset import FaceSet, load_faces
from avatar.metrics.expression import pearson
from avatar.metrics.identity import IdentityReference, reference_from_folder
from avatar.metrics.image import face_flicker
from avatar.metrics.inception import inner_features
from avatar.metrics.realism import core_sharpness, kid
from avatar.offline.realism import image_measures
from avatar.vision import eye_opening, hull_mask, mouth_opening


@dataclass
class Reference:
    """What every model is measured against, loaded once: held-out real presenter faces, their
    identity and image measures, and the driver's held-out faces (consecutive frames)."""

    presenter: FaceSet
    identity: IdentityReference
    features: np.ndarray  # inner-face Inception features of `presenter`
    measures: dict[str, float]
    driver: FaceSet
    driver_masks: np.ndarray


def load_reference(presenter_heldout: Path, driver_heldout: Path, size: int, driver_frames: int) -> Reference:
    """Held-out real presenter faces (all of them) and the first `driver_frames` held-out driver
    faces, at `size` px."""
    presenter = load_faces("held-out presenter", presenter_heldout, size)
    records = load_faces("held-out driver", driver_heldout, size)
    keep = min(driver_frames, len(records))
    driver = FaceSet(records.name, records.crops[:keep], records.landmarks[:keep], records.frame_landmarks[:keep],
                   records.frames[:keep])
    masks = np.stack([hull_mask(points, size, size, erode=max(1, size // 40)) for points in driver.landmarks])
    return Reference(presenter, reference_from_folder("presenter", presenter_heldout),
                     inner_features(presenter.crops, presenter.landmarks), image_measures(presenter), driver, masks)


def _inner_kid(crops: np.ndarray, landmarks: np.ndarray, reference: Reference) -> float:
    return 1e3 * kid(inner_features(crops, landmarks), reference.features)


def measure_faces(crops: np.ndarray, reference: Reference) -> dict:
    """Measures of network outputs `crops` ((N, S, S, 3) uint8 RGB, one per held-out driver
    face, in order) against `reference` (see the module docstring)."""
    from avatar.offline.generate import MATCH, check_face

    driver = reference.driver
    checks = [check_face(crop, reference.identity) for crop in crops]
    found = [i for i, c in enumerate(checks) if c.landmarks is not None]
    mouth_driver = [mouth_opening(driver.landmarks[i]) for i in found]
    mouth_out = [mouth_opening(checks[i].landmarks) for i in found]
    eyes_driver = [eye_opening(driver.landmarks[i]) for i in found]
    eyes_out = [eye_opening(checks[i].landmarks) for i in found]
    # Sharpness, eyes and KID read the output where the driver's face is: the output is drawn
    # in the driver's crop frame, and the same regions for every model keep them comparable.
    sharpness = np.mean([core_sharpness(c, p) for c, p in zip(crops, driver.landmarks)])
    n = len(crops)
    return {
        "faces": n,
        "found": round(len(found) / n, 4),
        "identity": round(sum(c.verdict == MATCH for c in checks) / n, 4),
        "mouth_r": round(pearson(mouth_driver, mouth_out), 4) if len(found) > 2 else None,
        "eye_r": round(pearson(eyes_driver, eyes_out), 4) if len(found) > 2 else None,
        "eye_opening": round(float(np.mean(eyes_out)) / reference.measures["eye_opening"], 3) if found else None,
        "kid_inner": round(_inner_kid(crops, driver.landmarks, reference), 2),
        "sharpness": round(float(sharpness) / reference.measures["sharpness"], 3),
        "flicker": round(face_flicker(list(crops), list(reference.driver_masks)), 4),
    }


def measure_model(model_path: Path, reference: Reference) -> dict:
    """Run the exported model on the held-out driver faces and measure its outputs, plus B->B."""
    from avatar.inference import load_swap_model

    model = load_swap_model(Path(model_path) / "model.onnx")
    driver = reference.driver
    outputs, _ = model.run(driver.crops, driver.landmarks)
    result = measure_faces(outputs, reference)
    redrawn, _ = model.run(reference.presenter.crops, reference.presenter.landmarks)
    result["kid_inner_b_to_b"] = round(_inner_kid(redrawn, reference.presenter.landmarks, reference), 2)
    return result


def baselines(same_person: Path, reference: Reference) -> dict:
    """The real rows measured the same way: the presenter in another video (the floor of inner
    KID) and the driver's own faces (a different real man; his mouth r and eye r, measured
    against themselves, are the ceiling of what landmark re-detection allows)."""
    size = reference.presenter.crops.shape[1]
    floor = load_faces("same person", same_person, size, max_faces=len(reference.driver))
    return {
        "floor": {"kid_inner": round(_inner_kid(floor.crops, floor.landmarks, reference), 2),
                  "sharpness": round(np.mean([core_sharpness(c, p) for c, p in zip(floor.crops, floor.landmarks)])
                                     / reference.measures["sharpness"], 3)},
        "driver": measure_faces(reference.driver.crops, reference),
    }
