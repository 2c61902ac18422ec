"""Adapting a presenter to the person who records driver answers: a real (short) warm-start run."""

import json
import shutil

import pytest

from avatar.adaptation import AdaptConfig, Adaptation, adapted_models
from avatar.driver import RecordedClips
from avatar.errors import UserError
from avatar.inference import load_swap_model
from avatar.training.data import load_faceset


@pytest.fixture
def base(tiny_model, consent_file, tmp_path):
    folder = tmp_path / "models" / "tiny"
    shutil.copytree(tiny_model, folder)
    shutil.copy(consent_file, folder / "consent.json")
    return folder


def test_recorded_answers_adapt_the_presenter_into_a_new_model(base, franck_clip, tmp_path):
    clips = RecordedClips(tmp_path / "clips")
    clips.save("Hello", franck_clip)
    clips.save("Goodbye", franck_clip)
    adapted = tmp_path / "adapted"
    adaptation = Adaptation(base, clips, AdaptConfig(steps=4, min_seconds=3, checkpoint_every=2),
                            work=tmp_path / "work", models=adapted)
    assert adaptation.status().state == "ready"
    adaptation.start()
    status = adaptation.wait(timeout=900)
    assert status.state == "done", status.message
    assert adapted_models(adapted) == [status.model] and status.model.name.startswith("tiny-adapted-")
    card = (status.model / "MODEL_CARD.md").read_text()
    assert "## Adaptation" in card and "Warm-started from `tiny`" in card and "2 driver recordings" in card
    assert json.loads((status.model / "consent.json").read_text()) == json.loads((base / "consent.json").read_text())
    # Warm-started from the base model (warm starts themselves are tested in tests/training).
    assert f"--init {base}" in (tmp_path / "work" / "log.txt").read_text()
    model = load_swap_model(status.model / "model.onnx")
    presenter, mask = model.run(load_faceset(base / "presenter-faces", 64, max_faces=4).images)
    assert presenter.shape == (4, 64, 64, 3) and mask.shape[0] == 4

def test_adapting_waits_for_enough_recordings(base, make_video, tmp_path):
    clips = RecordedClips(tmp_path / "clips")
    clips.save("Hi", make_video("short.mp4", seconds=2, audio=True))
    adaptation = Adaptation(base, clips, AdaptConfig(min_seconds=20), work=tmp_path / "work",
                            models=tmp_path / "adapted")
    status = adaptation.status()
    assert status.state == "not enough" and "2 s recorded" in status.message
    with pytest.raises(UserError, match="at least 20 s"):
        adaptation.start()


def test_a_model_without_its_presenter_faces_cannot_be_adapted(base, tmp_path):
    shutil.rmtree(base / "presenter-faces")
    adaptation = Adaptation(base, RecordedClips(tmp_path / "clips"), work=tmp_path / "work")
    with pytest.raises(UserError, match="without its presenter faces"):
        adaptation.start()
