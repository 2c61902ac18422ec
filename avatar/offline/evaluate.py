"""The study's measurements of synthetic face sets: `avatar evaluate`.

- FID and KID between the synthetic and the real faces (Inception pool3, avatar.metrics), both
  sets resized to one side first.
- Inception Score: needs an ImageNet classifier head, which the offline FID network lacks; it is
  computed only with `classifier` (an ONNX file: (N, 3, 299, 299) float32 RGB in [-1, 1] ->
  (N, C) logits) and otherwise reported as unavailable, never estimated.
- The study's "OpenFace comparison": squared L2 distance between unit-normalised face embeddings
  over all N(N-1)/2 pairs of a set, mean and variance (0 = identical, up to 4). The embeddings
  here are dlib's 128-d ResNet (face_recognition); OpenFace's own network is not available.
  Small distances mean a homogeneous set: the same person with the same expression.
- face_recognition matching of every synthetic face against the real person: matching / not
  matching / not a face. For a set written by `avatar gan generate` the verdicts of all its
  candidates (before any filtering) are reported too: that is how often the GAN draws the person.
- Table 1 (`variability`): the pairwise measure for a "monotone" and a "varied" selection of the
  person's real frames, by expression (avatar.offline.generate.select).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from avatar.config import SELECTIONS
from avatar.dataset import MANIFEST, evenly, load_faces, resize_face
from avatar.errors import UserError
from avatar.metrics.identity import TOLERANCE, IdentityReference, face_embedding, reference_from_folder
from avatar.metrics.inception import inception_features
from avatar.metrics.realism import fid, kid
from avatar.paths import atomic_write
from avatar.offline.generate import MATCH, NO_MATCH, NOT_A_FACE, check_face, select
from avatar.vision.features import expression_vector

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


@dataclass
class EmbeddedFaces:
    """A folder of faces and who is in them: images (N, S, S, 3) uint8 RGB at a common side,
    (N, 68, 2) landmarks in those pixels (nan where no face was found) and (N, 128) embeddings
    (nan likewise)."""

    name: str
    folder: Path
    images: np.ndarray
    landmarks: np.ndarray
    embeddings: np.ndarray

    @property
    def found(self) -> np.ndarray:
        return ~np.isnan(self.embeddings[:, 0])


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UserError(f"{path} is not a readable image.")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def load_face_set(name: str, folder: Path, size: int | None = None, max_images: int | None = None,
                  on_progress: Callable[[int, int], None] | None = None) -> EmbeddedFaces:
    """Read an `avatar extract`/`avatar gan generate` dataset (its crops and landmarks: no
    detection needed) or a plain folder of face images (each searched for a face), resized to
    `size` (default: the first image's side). Faces are embedded at their own side."""
    folder = Path(folder)
    if (folder / MANIFEST).is_file():
        faces = load_faces(name, folder, max_faces=max_images)
        count, read = len(faces), lambda i: (faces.crops[i], faces.landmarks[i])
    else:
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
        paths = evenly(paths, max_images)
        count, read = len(paths), lambda i: (_read_rgb(paths[i]), None)
    if count < 2:
        raise UserError(f"{folder} holds {count} face images: at least 2 are needed.")
    images, landmarks, embeddings = [], [], []
    for i in range(count):
        rgb, points = read(i)
        side = size or (images[0].shape[0] if images else rgb.shape[0])
        if points is None:
            check = check_face(rgb, None)
            points, embedding = check.landmarks, check.embedding
        else:
            embedding = face_embedding(rgb, (*points.min(0), *points.max(0)))
        image, points = resize_face(rgb, np.full((68, 2), np.nan) if points is None else points, side)
        images.append(image)
        landmarks.append(points)
        embeddings.append(np.full(128, np.nan) if embedding is None else embedding)
        if on_progress:
            on_progress(i + 1, count)
    return EmbeddedFaces(name, folder, np.stack(images), np.stack(landmarks), np.stack(embeddings))


def pairwise_squared_distances(embeddings: np.ndarray) -> np.ndarray:
    """Squared L2 distances between unit-normalised rows of (N, D), all N(N-1)/2 pairs, in [0, 4]."""
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    squared = np.clip(2 - 2 * unit @ unit.T, 0, 4)
    return squared[np.triu_indices(len(unit), k=1)]


def variability(embeddings: np.ndarray) -> dict:
    """The study's comparison for one set: pairs, mean and variance of the pairwise distances."""
    distances = pairwise_squared_distances(embeddings)
    return {"faces": len(embeddings), "pairs": len(distances), "mean": float(distances.mean()),
            "variance": float(distances.var())}


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) over `splits` equal parts of (N, C) logits: (mean, std)."""
    logits = np.asarray(logits, np.float64)
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    scores = []
    for part in np.array_split(probabilities, splits):
        marginal = part.mean(0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(marginal + 1e-12))).sum(1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def classifier_logits(images: np.ndarray, classifier: Path, batch: int = 25) -> np.ndarray:
    """(N, C) logits of an ImageNet classifier in ONNX for (N, H, W, 3) uint8 RGB images."""
    from avatar.inference.session import open_model_file

    session = open_model_file(classifier)
    name = session.get_inputs()[0].name
    out = []
    for start in range(0, len(images), batch):
        x = np.stack([cv2.resize(im, (299, 299), interpolation=cv2.INTER_LINEAR) for im in images[start:start + batch]])
        out.append(session.run(None, {name: (x.transpose(0, 3, 1, 2).astype(np.float32) - 127.5) / 127.5})[0])
    return np.concatenate(out)


def matching(faces: EmbeddedFaces, reference: IdentityReference, tolerance: float = TOLERANCE) -> dict:
    """How many of the set's images are a face matching `reference`, a face that does not, or no face."""
    found = faces.found
    distances = np.linalg.norm(faces.embeddings[found] - reference.mean, axis=1)
    match = int((distances <= tolerance).sum())
    return {MATCH: match, NO_MATCH: int(found.sum()) - match, NOT_A_FACE: int((~found).sum())}


def candidate_matching(folder: Path) -> dict | None:
    """Verdicts of every candidate a `avatar gan generate` set was chosen from (candidates.jsonl)."""
    path = Path(folder) / "candidates.jsonl"
    if not path.is_file():
        return None
    verdicts = [json.loads(line)["verdict"] for line in path.read_text().splitlines() if line.strip()]
    return {v: verdicts.count(v) for v in (MATCH, NO_MATCH, NOT_A_FACE)}


def histogram_png(sets: dict[str, np.ndarray], path: Path, bins: int = 40, width: int = 640, height: int = 360) -> None:
    """Overlaid histograms (share of pairs per bin) of pairwise distances over [0, max], drawn with OpenCV."""
    colours = [(0, 90, 200), (200, 80, 0), (0, 150, 60), (150, 0, 150), (90, 90, 90)]
    top = max(float(max(v.max() for v in sets.values())), 0.05)
    edges = np.linspace(0, top, bins + 1)
    shares = {name: np.histogram(values, edges)[0] / max(len(values), 1) for name, values in sets.items()}
    peak = max(float(s.max()) for s in shares.values()) or 1.0
    canvas = np.full((height, width, 3), 255, np.uint8)
    margin = 40
    for j, (name, share) in enumerate(shares.items()):
        colour = colours[j % len(colours)]
        x = margin + (edges[:-1] + edges[1:]) / 2 / top * (width - 2 * margin)
        y = height - margin - share / peak * (height - 2 * margin)
        cv2.polylines(canvas, [np.stack([x, y], 1).round().astype(np.int32)], False, colour, 2, cv2.LINE_AA)
        cv2.putText(canvas, name, (width - margin - 190, margin + 16 * (j + 1)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    colour, 1, cv2.LINE_AA)  # top right: the distances pile up on the left
    cv2.rectangle(canvas, (margin, margin), (width - margin, height - margin), (0, 0, 0), 1)
    for value in np.linspace(0, top, 5):
        x = int(margin + value / top * (width - 2 * margin))
        cv2.putText(canvas, f"{value:.2f}", (x - 12, height - margin + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1)
    cv2.putText(canvas, "squared L2 between unit face embeddings (pairs)", (margin, height - 6),
                cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    ok, data = cv2.imencode(".png", canvas[..., ::-1])
    atomic_write(path, data.tobytes())


def evaluate_synthetic(real: Path, fake: Path, size: int | None = None, classifier: Path | None = None,
                       max_real: int | None = None, on_stage: Callable[[str], None] | None = None,
                       reals: EmbeddedFaces | None = None, real_features: np.ndarray | None = None) -> dict:
    """Table 2 for one synthetic set against the person's real faces (see the module docstring).
    `reals` and `real_features` (the real set already loaded at the synthetic set's side, and
    its Inception features) spare reading them again when several sets are compared."""
    say = on_stage or (lambda stage: None)
    say("fake faces")
    fakes = load_face_set("synthetic", fake, size)
    if reals is None:
        say("real faces")
        reals = load_face_set("real", real, fakes.images.shape[1], max_real)
    reference = reference_from_folder("real", real)
    say("inception features")
    fake_features = inception_features(fakes.images)
    real_features = real_features if real_features is not None else inception_features(reals.images)
    result = {
        "real": {"folder": str(real), "faces": len(reals.images)},
        "synthetic": {"folder": str(fake), "faces": len(fakes.images)},
        "side": int(fakes.images.shape[1]),
        "fid": fid(fake_features, real_features),
        "kid_x1e3": 1e3 * kid(fake_features, real_features),
        "matching": matching(fakes, reference),
        "candidates_matching": candidate_matching(fake),
        "variability": variability(fakes.embeddings[fakes.found]),
        "real_variability": variability(reals.embeddings[reals.found]),
    }
    if classifier is not None:
        say("inception score")
        mean, std = inception_score(classifier_logits(fakes.images, classifier))
        result["inception_score"] = {"mean": mean, "std": std, "classifier": str(classifier)}
    else:
        result["inception_score"] = None
    result["_reals"], result["_real_features"] = reals, real_features  # for the next set, and Table 1
    result["_distances"] = {"synthetic": pairwise_squared_distances(fakes.embeddings[fakes.found]),
                            "real": pairwise_squared_distances(reals.embeddings[reals.found])}
    return result


def evaluate_variability(folder: Path, n: int = 100, seed: int = 0, faces: EmbeddedFaces | None = None) -> dict:
    """Table 1: pairwise measure of n-face monotone / varied / random selections of a dataset's
    faces (by expression, from its landmarks), and of the whole set. `faces`: that dataset
    already loaded (as `evaluate_synthetic` returns it in "_reals"), so it is not read twice."""
    faces = faces if faces is not None else load_face_set("real", folder)
    usable = np.flatnonzero(faces.found)
    features = np.array([expression_vector(faces.landmarks[i]) for i in usable])
    rows = {"all": {**variability(faces.embeddings[usable]), "expression_std": 1.0}}
    distances = {}
    spread = features.std(0)
    for how in SELECTIONS:
        chosen = select(features, n, how, seed)
        rows[how] = variability(faces.embeddings[usable[chosen]])
        # expression spread relative to the whole set's (1 = as varied as all frames)
        rows[how]["expression_std"] = float((features[chosen].std(0) / np.where(spread > 0, spread, 1)).mean())
        distances[how] = pairwise_squared_distances(faces.embeddings[usable[chosen]])
    return {"folder": str(folder), "n": n, "sets": rows, "_distances": distances}


STUDY_TABLE_1 = {"monotone": (0.019, 0.000), "varied": (0.234, 0.019)}
STUDY_TABLE_2 = {"fid": 29.3, "pairs_mean": 0.401, "pairs_variance": 0.068, "matching": (929, 66, 5)}


def report_markdown(synthetic: dict | None = None, table_1: dict | None = None) -> str:
    """REPORT.md: the study's Table 2 layout for a synthetic set and/or Table 1 for a real one."""
    lines = ["# Synthetic-face evaluation", ""]
    if synthetic is not None:
        m, c = synthetic["matching"], synthetic["candidates_matching"]
        score = synthetic["inception_score"]
        is_text = f"{score['mean']:.2f} ± {score['std']:.2f}" if score else "unavailable (no ImageNet classifier)"
        lines += ["## Table 2: synthetic faces vs the real person", "",
                  f"Synthetic: `{synthetic['synthetic']['folder']}` ({synthetic['synthetic']['faces']} faces); "
                  f"real: `{synthetic['real']['folder']}` ({synthetic['real']['faces']} faces); both at "
                  f"{synthetic['side']} px. Pairwise: squared L2 between unit dlib face embeddings "
                  "(the study used OpenFace).", "",
                  "| set | IS | FID | KID x 1e3 | pairwise mean | pairwise variance | matching | not matching | not a face |",
                  "|---|---|---|---|---|---|---|---|---|",
                  f"| synthetic (this run) | {is_text} | {synthetic['fid']:.1f} | {synthetic['kid_x1e3']:.1f} | "
                  f"{synthetic['variability']['mean']:.3f} | {synthetic['variability']['variance']:.4f} | "
                  f"{m[MATCH]} | {m[NO_MATCH]} | {m[NOT_A_FACE]} |"]
        if c:
            lines.append(f"| all generated candidates, before filtering |  |  |  |  |  | {c[MATCH]} | {c[NO_MATCH]} | "
                         f"{c[NOT_A_FACE]} |")
        real = synthetic["real_variability"]
        lines += [f"| real faces |  |  |  | {real['mean']:.3f} | {real['variance']:.4f} |  |  |  |",
                  f"| the study (256 px, V100) |  | {STUDY_TABLE_2['fid']} |  | {STUDY_TABLE_2['pairs_mean']} | "
                  f"{STUDY_TABLE_2['pairs_variance']} | {' | '.join(map(str, STUDY_TABLE_2['matching']))} |", ""]
    if table_1 is not None:
        lines += ["## Table 1: variability of real-frame selections", "",
                  f"`{table_1['folder']}`, {table_1['n']} faces per selection "
                  f"({table_1['sets'][SELECTIONS[0]]['pairs']} pairs), by expression features.", "",
                  "| set | pairwise mean | pairwise variance | expression spread (vs all frames) | the study |",
                  "|---|---|---|---|---|"]
        for name, row in table_1["sets"].items():
            study = STUDY_TABLE_1.get(name)
            lines.append(f"| {name} ({row['faces']} faces) | {row['mean']:.3f} | {row['variance']:.4f} | "
                         f"{row.get('expression_std', float('nan')):.3f} | "
                         f"{f'{study[0]} / {study[1]}' if study else ''} |")
        lines.append("")
    return "\n".join(lines)


def write_report(out: Path, synthetic: dict | None = None, table_1: dict | None = None) -> list[Path]:
    """REPORT.json (out), REPORT.md and a pairwise-distance histogram PNG beside it."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    distances = {**{f"Table 1 {k}": v for k, v in ((table_1 or {}).get("_distances") or {}).items()},
                 **{k: v for k, v in ((synthetic or {}).get("_distances") or {}).items()}}
    plain = {"synthetic": {k: v for k, v in synthetic.items() if not k.startswith("_")} if synthetic else None,
             "table_1": {k: v for k, v in table_1.items() if not k.startswith("_")} if table_1 else None}
    markdown, histogram = out.with_suffix(".md"), out.with_name(out.stem + "-pairs.png")
    atomic_write(out, json.dumps(plain, indent=1) + "\n")
    atomic_write(markdown, report_markdown(synthetic, table_1) + f"\n![pairwise distances]({histogram.name})\n")
    histogram_png(distances, histogram)
    return [out, markdown, histogram]


def evaluate_study(out: Path, real: Path | None = None, fake: Path | None = None, variability_of: Path | None = None,
                   count: int = 100, size: int | None = None, classifier: Path | None = None,
                   on_stage: Callable[[str], None] = lambda stage: None) -> tuple[str, list[Path]]:
    """The study's measurements (`avatar evaluate`): Table 2 of a synthetic set (`real` and
    `fake` together) and/or Table 1, the variability of `variability_of`'s real faces (`count`
    per selection; the real faces' embeddings reused when it is `real`). Writes the report at
    `out` (see `write_report`); returns (its Markdown, the paths written)."""
    if (real is None) != (fake is None):
        raise UserError("--real and --fake go together (Table 2); --variability alone gives Table 1.")
    if real is None and variability_of is None:
        raise UserError("nothing to evaluate: pass --real and --fake, and/or --variability.")
    synthetic = table_1 = None
    if real is not None:
        synthetic = evaluate_synthetic(real, fake, size, classifier, on_stage=on_stage)
    if variability_of is not None:
        on_stage("variability")
        same = synthetic is not None and Path(variability_of).resolve() == Path(real).resolve()
        table_1 = evaluate_variability(variability_of, count, faces=synthetic["_reals"] if same else None)
    paths = write_report(out, synthetic, table_1)
    return report_markdown(synthetic, table_1), paths
