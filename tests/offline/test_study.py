"""The study's experiment (avatar.offline.study): B sets chosen from real frames, the measures of
a model's outputs on real faces, the tables, and (slow) a whole tiny study from training to
figures."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from avatar.offline.study import report, run, sets
from avatar.dataset import read_manifest
from avatar.errors import UserError
from avatar.presenter import SHIPPED_MODELS
from avatar.offline.study import BSet, StudyBudget, StudyData, load_reference, measure_faces, results_table
from avatar.offline.generate import select_real
from avatar.vision.features import expression_vector


def _spread(folder):
    return np.array([expression_vector(np.asarray(r["landmarks_crop"])) for r in read_manifest(folder)]).std(0).mean()


def test_real_selections_write_datasets_by_expression(tiny_faces, tmp_path):
    _, presenter = tiny_faces
    assert select_real(presenter, tmp_path / "varied", 10, "varied") == 10
    assert select_real(presenter, tmp_path / "monotone", 10, "monotone") == 10
    assert _spread(tmp_path / "varied") > _spread(tmp_path / "monotone")
    for record in read_manifest(tmp_path / "varied"):  # crops really copied, readable
        assert cv2.imread(str(tmp_path / "varied" / record["crop"])).shape == (64, 64, 3)
    assert json.loads((tmp_path / "varied" / "subset.json").read_text())["selection"] == "varied"
    assert select_real(presenter, tmp_path / "even", 1000, "even") == len(read_manifest(presenter))
    with pytest.raises(UserError, match="only"):
        select_real(presenter, tmp_path / "too-many", 1000, "varied")


@pytest.fixture(scope="module")
def reference(tiny_faces):
    franck, presenter = tiny_faces
    return load_reference(presenter, franck, 64, driver_frames=12)


def test_measures_tell_the_presenter_from_another_man(reference):
    """Fed the driver's own faces, identity is 0 and the mouth follows; fed the presenter's real
    faces, identity is high and the inner face is far closer to the presenter's."""
    driver = measure_faces(reference.driver.crops, reference)
    presenter = measure_faces(reference.presenter.crops[:12], reference)
    assert driver["identity"] == 0.0 and driver["found"] >= 0.9
    assert driver["mouth_r"] > 0.5 and driver["eye_r"] > 0.3
    assert presenter["identity"] >= 0.8
    assert presenter["kid_inner"] < driver["kid_inner"]
    blurred = measure_faces(np.stack([cv2.GaussianBlur(c, (0, 0), 2) for c in reference.driver.crops]), reference)
    assert blurred["sharpness"] < 0.6 * driver["sharpness"]


def test_results_table_shows_mean_and_spread_over_seeds():
    rows = [{"b_set": "real-even", "seed": s, "identity": v, "mouth_r": 0.8, "eye_r": 0.5, "kid_inner": k,
             "kid_inner_b_to_b": 40.0, "sharpness": 0.7, "eye_opening": 0.9, "flicker": 0.01}
            for s, v, k in ((0, 0.9, 50.0), (1, 0.7, 70.0))]
    table = results_table({"models": {"real-even": rows}, "sets": {}, "baselines": None})
    line = next(line for line in table.splitlines() if line.startswith("| real frames, evenly spread"))
    assert "| 2 |" in line and "80% ± 10%" in line and "60.0 ± 10.0" in line


def test_study_data_names_what_is_missing(tmp_path):
    with pytest.raises(UserError, match="driver is missing"):
        StudyData.from_folder(tmp_path, tmp_path / "consent.json")


@pytest.mark.slow
def test_a_tiny_study_trains_measures_and_draws(tiny_faces, consent_file, tmp_path, monkeypatch):
    """Three B sets (real frames chosen two ways, and a synthetic set generated on the way by the
    shipped GAN), 4 steps each: models exported, every measure written, the table and both
    figures made; a second run redoes nothing."""
    franck, presenter = tiny_faces
    few = (BSet("real-varied", "real", "varied", 10, "real, varied"),
           BSet("real-monotone", "real", "monotone", 10, "real, monotone"),
           BSet("gan-varied", "gan", "varied", 4, "GAN, varied"))
    for module in (sets, run, report):  # each part of the study reads the B sets
        monkeypatch.setattr(module, "B_SETS", few)
    data = StudyData(franck, franck, presenter, presenter, presenter, {"varied": tmp_path / "synthetic-varied"},
                     consent_file, SHIPPED_MODELS / "presenter-gan")
    budget = StudyBudget(64, 4, (0,), 12, base_steps=2)
    results = run.run_study(data, tmp_path / "study", budget, on_stage=lambda stage: None)
    assert set(results["models"]) == {"real-varied", "real-monotone", "gan-varied"}
    assert len(read_manifest(tmp_path / "study" / "sets" / "gan-varied")) == 4
    assert json.loads((tmp_path / "synthetic-varied" / "selection.json").read_text())["candidates"] == 12
    for rows in results["models"].values():
        assert rows[0]["faces"] == 12 and rows[0]["kid_inner"] > 0 and "kid_inner_b_to_b" in rows[0]
    assert results["baselines"]["driver"]["identity"] == 0.0
    assert (tmp_path / "study" / "runs" / "base" / "checkpoints" / "step_00000002.pt").is_file()
    assert "real, varied" in results_table(results)

    study = tmp_path / "study"
    report.samples_figure(study, tmp_path / "sets.jpg")
    report.renders_figure(study, franck, tmp_path / "renders.jpg")
    assert cv2.imread(str(tmp_path / "sets.jpg")).shape[0] == 3 * 64
    assert cv2.imread(str(tmp_path / "renders.jpg")).shape[0] == 4 * 2 * 64  # shown at twice the size

    stages = []
    run.run_study(data, study, budget, on_stage=stages.append)
    assert stages == []


def test_b_set_table_reads_what_evaluate_synthetic_writes():
    from avatar.offline.study import b_set_table

    figures = {"synthetic": {"faces": 1000}, "fid": 76.2, "kid_x1e3": 119.8,
               "matching": {"match": 998, "no match": 2, "not a face": 0},
               "variability": {"faces": 1000, "pairs": 499500, "mean": 0.0226, "variance": 5.6e-05}}
    line = b_set_table({"sets": {"gan-varied": figures}}).splitlines()[-1]
    assert line.startswith("| GAN, varied selection | 1,000 | 76.2 | 119.8 | 998 / 2 / 0 | 0.0226 |")
