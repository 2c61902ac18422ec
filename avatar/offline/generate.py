"""Synthetic faces of the presenter from a trained GAN: `avatar gan generate`.

Generate candidates from seeds, keep those that are a face (dlib finds one and its 68
landmarks) of the right person (face_recognition matches the GAN's training identity), pick N
of them by expression, and write them as a dataset `avatar swap train` accepts (aligned crops,
landmarks, manifest; the same alignment as `avatar extract`).

Selections (the study's sets): `varied` maximises expression variety (farthest-point sampling
on standardised expression features: mouth, eyes, brows), `monotone` the most homogeneous set
(the faces nearest the median expression), `random` no selection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from avatar.config import SELECTIONS, GenerateConfig
from avatar.dataset import CROPS, MANIFEST, DatasetWriter
from avatar.errors import UserError
from avatar.metrics.identity import TOLERANCE, IdentityReference, face_embedding, reference_from_folder
from avatar.paths import atomic_write
from avatar.vision import align_face, choose_face, detect_faces, landmarks_68, transform_points
from avatar.vision.features import EXPRESSION_FEATURES, expression_vector

DETECT_SIDE = 256  # small GAN images are enlarged to this before detection (HOG finds faces from ~80 px)
MATCH, NO_MATCH, NOT_A_FACE = "match", "no match", "not a face"


@dataclass
class FaceCheck:
    """What is in one image: verdict MATCH / NO_MATCH / NOT_A_FACE; for faces, the (68, 2)
    landmarks in the image's own pixels, the 128-d embedding and its distance to the reference."""

    verdict: str
    landmarks: np.ndarray | None = None
    embedding: np.ndarray | None = None
    distance: float | None = None
    box: tuple[float, float, float, float] | None = None


def check_face(rgb: np.ndarray, reference: IdentityReference | None, tolerance: float = TOLERANCE) -> FaceCheck:
    """Find the face in an (S, S, 3) uint8 RGB image and compare it with `reference` (without
    one, every face counts as a match)."""
    scale = max(1.0, DETECT_SIDE / rgb.shape[0])
    big = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else rgb
    chosen, _ = choose_face(detect_faces(big), big.shape[1], big.shape[0])
    if chosen is None:
        return FaceCheck(NOT_A_FACE)
    points = landmarks_68(big, chosen.box)
    embedding = face_embedding(big, chosen.box)
    distance = reference.distance(embedding) if reference is not None else None
    verdict = MATCH if distance is None or distance <= tolerance else NO_MATCH
    box = tuple(v / scale for v in chosen.box)
    return FaceCheck(verdict, points / scale, embedding, distance, box)


def select(features: np.ndarray, n: int, how: str, seed: int = 0) -> np.ndarray:
    """Indices of n rows of `features` (M, F): see the module docstring for `how`."""
    if how not in SELECTIONS:
        raise ValueError(f"unknown selection {how!r}: use one of {SELECTIONS}")
    m = len(features)
    if n > m:
        raise UserError(f"only {m} usable faces to choose {n} from: generate more candidates.")
    if how == "random":
        return np.sort(np.random.default_rng(seed).choice(m, n, replace=False))
    spread = features.std(0)
    z = (features - features.mean(0)) / np.where(spread > 0, spread, 1)
    if how == "monotone":
        return np.sort(np.argsort(np.linalg.norm(z - np.median(z, 0), axis=1), kind="stable")[:n])
    chosen = [int(np.argmax(np.linalg.norm(z, axis=1)))]  # start at the most unusual expression
    nearest = np.linalg.norm(z - z[chosen[0]], axis=1)
    for _ in range(n - 1):
        pick = int(np.argmax(nearest))
        chosen.append(pick)
        nearest = np.minimum(nearest, np.linalg.norm(z - z[pick], axis=1))
    return np.sort(np.array(chosen))


def parse_seeds(text: str) -> list[int]:
    """'0-99,200,300-310' -> [0, ..., 99, 200, 300, ..., 310]."""
    seeds = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            seeds += list(range(int(low), int(high) + 1)) if high else [int(low)]
        except ValueError:
            raise UserError(f"--seeds {text!r}: use numbers and ranges, e.g. 0-2999 or 1,5,9-12.") from None
    return seeds


@dataclass
class GenerationSummary:
    out: Path
    candidates: int
    counts: dict[str, int]
    selected: int
    how: str
    feature_spread: dict[str, float] = field(default_factory=dict)


def generate_dataset(generate: Callable[[np.ndarray], np.ndarray], latents: np.ndarray, seeds: list[int],
                     out: Path, n: int, how: str, reference: IdentityReference | None, size: int = 128,
                     provenance: dict | None = None, tolerance: float = TOLERANCE,
                     on_progress: Callable[[int, int], None] | None = None) -> GenerationSummary:
    """Generate faces for `latents` (one per seed, via `generate`: (B, z_dim) -> (B, S, S, 3)
    uint8 RGB), check each, select n matching faces by `how` and write them to `out` as an
    extract-style dataset of `size` px aligned crops. Every candidate's verdict goes to
    `candidates.jsonl`, the choice to `selection.json`."""
    out = Path(out)
    if (out / MANIFEST).exists():
        raise UserError(f"{out} already holds a dataset: choose a new --out.")
    images, checks = [], []
    batch = 32
    for start in range(0, len(latents), batch):
        for image in generate(latents[start:start + batch]):
            images.append(image)
            checks.append(check_face(image, reference, tolerance))
            if on_progress:
                on_progress(len(checks), len(latents))
    # Every verdict is kept first, so a run that finds too few faces still shows what it found.
    (out / CROPS).mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"seed": seeds[i], "verdict": c.verdict,
                         "identity_distance": None if c.distance is None else round(c.distance, 4)})
             for i, c in enumerate(checks)]
    atomic_write(out / "candidates.jsonl", "\n".join(lines) + "\n")
    usable = [i for i, c in enumerate(checks) if c.verdict == MATCH]
    features = np.array([expression_vector(checks[i].landmarks) for i in usable]).reshape(-1, len(EXPRESSION_FEATURES))
    picks = [usable[i] for i in select(features, n, how)]
    counts = {v: sum(c.verdict == v for c in checks) for v in (MATCH, NO_MATCH, NOT_A_FACE)}

    source = (provenance or {}).get("source", "gan")
    with DatasetWriter(out, png_compression=3) as writer:
        for i in picks:
            check, seed = checks[i], seeds[i]
            crop, matrix = align_face(images[i], check.landmarks, size)
            name = f"{CROPS}/seed{seed:07d}.png"
            writer.keep(name, crop, {
                "source": source, "source_id": f"gan-seed{seed}", "frame": seed, "time": 0.0, "crop": name,
                "size": size, "box": [round(v, 1) for v in check.box], "detected": True,
                "matrix": np.round(matrix, 6).tolist(), "landmarks_source": np.round(check.landmarks, 2).tolist(),
                "landmarks_crop": np.round(transform_points(check.landmarks, matrix), 2).tolist(),
                "seed": seed, "identity_distance": round(check.distance, 4) if check.distance is not None else None,
                "expression": dict(zip(EXPRESSION_FEATURES, np.round(expression_vector(check.landmarks), 4).tolist())),
            })
    chosen = features[[usable.index(i) for i in picks]]
    spread = dict(zip(EXPRESSION_FEATURES, np.round(chosen.std(0), 4).tolist()))
    atomic_write(out / "selection.json", json.dumps({
        "selection": how, "selected": len(picks), "candidates": len(checks), "counts": counts,
        "expression_std": spread, **(provenance or {})}, indent=1) + "\n")
    return GenerationSummary(out, len(checks), counts, len(picks), how, spread)


def select_real(source: Path, target: Path, n: int, how: str, seed: int = 0) -> int:
    """A training set of n real faces from the extract folder `source`, written to `target`:
    `even` spreads them evenly over the videos (all of them when there are fewer than n), the
    other selections choose by expression exactly as for synthetic faces (`select`)."""
    from avatar.dataset import read_manifest, write_subset

    records = read_manifest(source)
    if how == "even":
        picks = read_manifest(source, n)
    else:
        features = np.array([expression_vector(np.asarray(r["landmarks_crop"])) for r in records])
        picks = [records[i] for i in select(features, n, how, seed)]
    chosen = np.array([expression_vector(np.asarray(r["landmarks_crop"])) for r in picks])
    spread = dict(zip(EXPRESSION_FEATURES, np.round(chosen.std(0), 4).tolist()))
    return write_subset(source, target, picks, {"selection": how, "expression_std": spread})


def generate_from(source: Path, out: Path, n: int, config: GenerateConfig = GenerateConfig(),
                  seeds: list[int] | None = None, reference: Path | None = None,
                  on_progress: Callable[[int, int], None] | None = None,
                  on_message: Callable[[str], None] = lambda message: None) -> GenerationSummary:
    """`avatar gan generate`: n faces chosen by `config.select` from the candidates `seeds` (default 3n)
    of the generator at `source` (a run folder, checkpoint, or folder holding generator.onnx),
    identity-checked against `reference` (an extract folder of the person; default the GAN's
    training folder). Refused without the consent record the GAN was trained under, which is
    copied into `out` (the synthetic faces are of that person)."""
    import shutil

    from avatar.inference.generator import latents_for_seeds, load_generator_model
    from avatar.training.gan.export import consent_of, generator_file_of

    generator_file = generator_file_of(source, on_message)
    consent = consent_of(generator_file)
    if not consent.is_file():
        raise UserError(f"{consent.parent} has no consent.json: faces of a person are only generated with the consent "
                        "record the GAN was trained under (avatar gan train --consent).")
    model = load_generator_model(generator_file)
    seeds = list(seeds) if seeds is not None else list(range(3 * n))
    if len(seeds) < n:
        raise UserError(f"{len(seeds)} seeds cannot give {n} faces: pass at least --n seeds (3 x N is usual).")
    reference_dir = Path(reference or model.metadata.get("avatar.gan_data", ""))
    if not (reference_dir / MANIFEST).is_file():
        raise UserError(f"no real faces to check identity against ({reference_dir or 'none recorded'}): "
                        "pass --reference DIR (an `avatar extract` folder of the person).")
    identity = reference_from_folder("person", reference_dir)
    provenance = {"source": f"gan:{model.path}", "generator_step": model.metadata.get("avatar.gan_step"),
                  "generator_kimg": model.metadata.get("avatar.gan_kimg"), "psi": config.psi,
                  "reference": str(reference_dir)}
    summary = generate_dataset(lambda z: model.generate(z, config.psi), latents_for_seeds(seeds, model.z_dim), seeds,
                               out, n, config.select, identity, config.size, provenance, on_progress=on_progress)
    shutil.copyfile(consent, Path(out) / "consent.json")
    return summary
