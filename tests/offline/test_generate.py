"""Synthetic-face generation (avatar.offline.generate) and the study's measures (avatar.offline.evaluate), on real
faces: the presenter (cap13), another person (franck) and images with no face at all."""

import json

import cv2
import numpy as np
import pytest
import scipy.linalg
from click.testing import CliRunner

from avatar.cli import main
from avatar.dataset import read_manifest
from avatar.errors import UserError
from avatar.metrics.identity import reference_from_folder
from avatar.metrics.realism import fid
from avatar.offline.evaluate import (evaluate_variability, inception_score, load_face_set, matching,
                          pairwise_squared_distances, variability)
from avatar.offline.generate import MATCH, NO_MATCH, NOT_A_FACE, check_face, generate_dataset, parse_seeds, select
from avatar.training.data import load_faceset
from avatar.vision.features import expression_vector


def _crops(folder, count, size=64):
    """The first `count` crops of a dataset as (count, size, size, 3) uint8 RGB, like GAN output."""
    out = []
    for record in read_manifest(folder)[:count]:
        rgb = cv2.cvtColor(cv2.imread(str(folder / record["crop"])), cv2.COLOR_BGR2RGB)
        out.append(cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(out)


@pytest.fixture(scope="module")
def people(tiny_faces):
    """(presenter folder, presenter crops, franck crops, no-face images), 64 px."""
    franck, presenter = tiny_faces
    noise = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    noise = np.stack([cv2.GaussianBlur(n, (0, 0), 3) for n in noise])  # blotches, not a face
    return presenter, _crops(presenter, 12), _crops(franck, 6), noise


@pytest.fixture(scope="module")
def reference(people):
    return reference_from_folder("presenter", people[0])


def test_check_face_tells_the_person_from_another_and_from_no_face(people, reference):
    _, presenter, franck, noise = people
    assert [check_face(image, reference).verdict for image in presenter[:4]] == [MATCH] * 4
    assert [check_face(image, reference).verdict for image in franck[:3]] == [NO_MATCH] * 3
    assert [check_face(image, reference).verdict for image in noise] == [NOT_A_FACE] * 3
    found = check_face(presenter[0], reference)
    assert found.landmarks.shape == (68, 2) and 0 < found.landmarks.min() and found.landmarks.max() < 64


def test_selections_order_expression_variety():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 7))
    spread = {how: features[select(features, 30, how)].std(0).mean() for how in ("varied", "random", "monotone")}
    assert spread["varied"] > spread["random"] > spread["monotone"], spread
    for how in spread:
        picked = select(features, 30, how)
        assert len(set(picked.tolist())) == 30
    with pytest.raises(UserError, match="generate more candidates"):
        select(features, 301, "varied")


def test_parse_seeds():
    assert parse_seeds("0-3,10, 12-13") == [0, 1, 2, 3, 10, 12, 13]
    with pytest.raises(UserError, match="--seeds"):
        parse_seeds("a-b")


def test_generated_faces_become_a_training_dataset(people, reference, tmp_path):
    presenter, faces, franck, noise = people
    candidates = np.concatenate([faces, franck[:2], noise[:1]])  # 12 + 2 + 1, standing in for a GAN's output
    latents = np.arange(len(candidates), dtype=np.float32)[:, None]  # the stand-in "generator" looks them up
    out = tmp_path / "synthetic"
    summary = generate_dataset(lambda z: candidates[z[:, 0].astype(int)], latents, list(range(100, 115)), out, 8,
                               "varied", reference, size=128, provenance={"source": "test"})
    assert summary.counts == {MATCH: 12, NO_MATCH: 2, NOT_A_FACE: 1} and summary.selected == 8
    records = read_manifest(out)
    assert len(records) == 8 and all(100 <= r["seed"] < 112 for r in records)  # only the presenter's faces
    verdicts = [json.loads(line)["verdict"] for line in (out / "candidates.jsonl").read_text().splitlines()]
    assert verdicts.count(NOT_A_FACE) == 1 and len(verdicts) == 15
    faceset = load_faceset(out, 128)  # what `avatar swap train` reads
    assert faceset.images.shape == (8, 128, 128, 3)
    # aligned like `avatar extract`: the eyes sit where the extract crops have them
    real = load_faceset(presenter, 128)
    assert np.abs(np.median(faceset.landmarks[:, 36:48], 0) - np.median(real.landmarks[:, 36:48], 0)).max() < 6
    with pytest.raises(UserError, match="already holds"):
        generate_dataset(lambda z: candidates[:len(z)], latents, list(range(15)), out, 8, "varied", reference)


def test_fid_agrees_with_scipy_and_is_zero_for_one_set():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 16))
    b = rng.normal(size=(300, 16)) @ rng.normal(size=(16, 16)) * 0.5 + 0.3
    mu_a, mu_b, cov_a, cov_b = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    reference = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * scipy.linalg.sqrtm(cov_a @ cov_b).real)
    assert fid(a, b) == pytest.approx(reference, rel=1e-6)
    assert fid(a, a) == pytest.approx(0, abs=1e-6)


def test_pairwise_distances_count_every_pair_once_on_the_unit_sphere():
    embeddings = np.array([[1.0, 0, 0], [2.0, 0, 0], [0, 3.0, 0], [0, 0, -1.0], [-1.0, 0, 0]])
    distances = pairwise_squared_distances(embeddings)
    assert len(distances) == 10  # N(N-1)/2
    assert distances[0] == pytest.approx(0)  # same direction, other length
    assert distances[1] == pytest.approx(2)  # orthogonal
    assert distances.max() == pytest.approx(4)  # opposite
    stats = variability(embeddings)
    assert stats["pairs"] == 10 and stats["mean"] == pytest.approx(distances.mean())


def test_inception_score_spans_one_to_the_number_of_classes():
    assert inception_score(np.zeros((100, 10)), splits=2)[0] == pytest.approx(1.0)
    confident = np.full((100, 10), -50.0)
    confident[np.arange(100), np.arange(100) % 10] = 50.0
    assert inception_score(confident, splits=2)[0] == pytest.approx(10.0, rel=1e-3)


def test_matching_counts_faces_of_the_person_others_and_non_faces(people, reference, tmp_path):
    _, faces, franck, noise = people
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate([*faces[:5], *franck[:3], *noise[:2]]):
        cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    images = load_face_set("fake", folder)
    assert images.images.shape == (10, 64, 64, 3)
    assert matching(images, reference) == {MATCH: 5, NO_MATCH: 3, NOT_A_FACE: 2}


def test_variability_selections_of_real_frames(people):
    table = evaluate_variability(people[0], n=10)
    sets = table["sets"]
    assert sets["all"]["faces"] == 30 and sets["varied"]["pairs"] == 45
    assert sets["varied"]["expression_std"] > sets["monotone"]["expression_std"]
    assert 0 < sets["monotone"]["mean"] < 4


def test_evaluate_cli_writes_both_tables(people, tmp_path):
    presenter, faces, franck, noise = people
    fake = tmp_path / "fake"
    fake.mkdir()
    for i, image in enumerate([*faces, *franck[:2]]):
        cv2.imwrite(str(fake / f"{i:03d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    out = tmp_path / "report" / "REPORT.json"
    result = CliRunner().invoke(main, ["evaluate", "--real", str(presenter), "--fake", str(fake),
                                       "--variability", str(presenter), "--n", "10", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["synthetic"]["matching"] == {MATCH: 12, NO_MATCH: 2, NOT_A_FACE: 0}
    assert report["synthetic"]["inception_score"] is None  # no classifier: said, not invented
    assert report["synthetic"]["fid"] > 0 and report["table_1"]["sets"]["varied"]["pairs"] == 45
    text = out.with_suffix(".md").read_text()
    assert "Table 2" in text and "Table 1" in text and "unavailable" in text
    assert out.with_name("REPORT-pairs.png").stat().st_size > 2000
    refused = CliRunner().invoke(main, ["evaluate", "--real", str(presenter), "--out", str(out)])
    assert refused.exit_code == 2 and "--real and --fake go together" in refused.output


def test_expression_vector_reads_an_open_mouth(people):
    presenter = people[0]
    records = read_manifest(presenter)
    vectors = np.array([expression_vector(np.array(r["landmarks_crop"])) for r in records])
    assert vectors.shape == (30, 7) and np.isfinite(vectors).all()
    closed = np.array(records[0]["landmarks_crop"], float)
    opened = closed.copy()
    opened[65:68, 1] += 6  # drop the inner lower lip
    assert expression_vector(opened)[0] > expression_vector(closed)[0] + 0.05
