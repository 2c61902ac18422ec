"""Adapting a presenter to the person who records driver answers: a real (short) warm-start run."""

import json
import shutil

import pytest

from avatar.adaptation import AdaptConfig, Adaptation
from avatar.driver import RecordedClips
from avatar.errors import UserError
from avatar.inference import load_swap_model
from avatar.presenter import adapted_models, open_presenter
from avatar.training.data import load_faceset


@pytest.fixture
def base(tiny_model, consent_file, tmp_path):
    folder = tmp_path / "models" / "tiny"
    shutil.copytree(tiny_model, folder)
    shutil.copy(consent_file, folder / "consent.json")
    return folder


CONSENT = {"person": "Rec Order", "source": "2 recordings made in the app", "date": "2026-12-01",
           "scope": "adapting the test presenter", "basis": "ticked agreement in the app"}


def test_recorded_answers_adapt_the_presenter_into_a_new_model(base, franck_clip, tmp_path):
    clips = RecordedClips.in_folder(tmp_path / "clips")
    clips.save("Hello", franck_clip)
    clips.save("Goodbye", _copy_with_other_bytes(franck_clip, tmp_path))
    adapted = tmp_path / "adapted"
    adaptation = Adaptation(base, clips, AdaptConfig(steps=4, min_seconds=3, checkpoint_every=2),
                            work=tmp_path / "work", models=adapted)
    assert adaptation.status().state == "ready"
    adaptation.start(CONSENT)
    status = adaptation.wait(timeout=900)
    assert status.state == "done", status.message
    assert adapted_models(adapted) == [status.model] and status.model.name.startswith("tiny-adapted-")
    card = (status.model / "MODEL_CARD.md").read_text()
    assert "## Adaptation" in card and "Warm-started from `tiny`" in card and "2 driver recordings" in card
    assert json.loads((status.model / "consent.json").read_text()) == json.loads((base / "consent.json").read_text())
    assert json.loads((status.model / "adaptation-consent.json").read_text()) == CONSENT
    assert "person: Rec Order" in card
    open_presenter(status.model)  # sealed at export: its integrity record matches
    # Warm-started from the base model (warm starts themselves are tested in tests/training).
    assert f'"step": "train", "faces": "{tmp_path / "work" / "driver-faces"}", "base": "{base}"' in \
        (tmp_path / "work" / "log.txt").read_text()
    model = load_swap_model(status.model / "model.onnx")
    presenter, mask = model.run(load_faceset(base / "presenter-faces", 64, max_faces=4).images)
    assert presenter.shape == (4, 64, 64, 3) and mask.shape[0] == 4

def test_adapting_waits_for_enough_recordings(base, franck_clip, tmp_path):
    clips = RecordedClips.in_folder(tmp_path / "clips")
    clips.save("Hi", franck_clip)
    adaptation = Adaptation(base, clips, AdaptConfig(min_seconds=20), work=tmp_path / "work",
                            models=tmp_path / "adapted")
    status = adaptation.status()
    assert status.state == "not enough" and "2 s recorded" in status.message
    with pytest.raises(UserError, match="at least 20 s"):
        adaptation.start(CONSENT)


def test_a_model_without_its_presenter_faces_cannot_be_adapted(base, tmp_path):
    shutil.rmtree(base / "presenter-faces")
    adaptation = Adaptation(base, RecordedClips.in_folder(tmp_path / "clips"), work=tmp_path / "work")
    with pytest.raises(UserError, match="without its presenter faces"):
        adaptation.start(CONSENT)


def test_adapting_needs_a_complete_consent_record(base, tmp_path):
    adaptation = Adaptation(base, RecordedClips.in_folder(tmp_path / "clips"), work=tmp_path / "work")
    with pytest.raises(UserError, match="lacks person"):
        adaptation.start({**CONSENT, "person": ""})


def test_an_interrupted_training_is_never_exported(base, franck_clip, tmp_path, monkeypatch):
    clips = RecordedClips.in_folder(tmp_path / "clips")
    clips.save("Hello", franck_clip)
    adaptation = Adaptation(base, clips, AdaptConfig(steps=4, min_seconds=1), work=tmp_path / "work",
                            models=tmp_path / "adapted")
    calls = []

    def step(name, **arguments):  # extraction works; training is stopped part-way (as SIGTERM does: exit 3)
        calls.append(name)
        if name == "train":
            raise UserError("error: run: training stopped at step 2 of 4; run it again to resume.")

    monkeypatch.setattr(adaptation, "_step", step)
    adaptation.start(CONSENT)
    status = adaptation.wait(timeout=60)
    assert status.state == "failed" and "stopped at step 2 of 4" in status.message
    assert calls == ["extract", "train"] and not (tmp_path / "adapted").exists()


def _copy_with_other_bytes(video, tmp_path):
    """The same recording re-encoded: a second, distinct clip (identical bytes count once)."""
    import subprocess

    from avatar.media import ffmpeg_exe

    out = tmp_path / "other.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(video), "-c:v", "libx264", "-crf", "30",
                    "-c:a", "copy", str(out)], check=True)
    return out
