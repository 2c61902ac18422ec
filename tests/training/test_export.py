import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from avatar.errors import UserError
from avatar.training import export as export_module
from avatar.training.checkpoint import load_checkpoint
from avatar.training.data import load_faceset


def test_exported_model_has_the_documented_interface(tiny_model):
    model = onnx.load(str(tiny_model / "model.onnx"))
    assert [i.name for i in model.graph.input] == ["face"]
    assert [o.name for o in model.graph.output] == ["presenter", "mask"]
    assert model.opset_import[0].version == export_module.OPSET
    meta = {p.key: p.value for p in model.metadata_props}
    assert '"size": 64' in meta["avatar.swap_config"] and meta["avatar.step"] == "4"
    session = ort.InferenceSession(str(tiny_model / "model.onnx"), providers=["CPUExecutionProvider"])
    for batch in (1, 5):  # dynamic batch
        rgb, mask = session.run(None, {"face": np.random.rand(batch, 3, 64, 64).astype(np.float32)})
        assert rgb.shape == (batch, 3, 64, 64) and mask.shape == (batch, 1, 64, 64)
        assert 0 <= rgb.min() and rgb.max() <= 1
    assert not list(tiny_model.glob("*.data"))  # one file, no external data
    weights = load_checkpoint(tiny_model / "weights.pt")
    assert all(t.dtype == torch.float16 for t in weights["model"].values())


def test_parity_failure_leaves_nothing_behind(tiny_faces, tiny_model, tmp_path, monkeypatch):
    _, b = tiny_faces
    faces = load_faceset(b, 64, max_faces=4).images
    checkpoint = next((tiny_model.parent.parent).glob("tiny-run*/checkpoints/*.pt"))
    monkeypatch.setattr(export_module, "parity", lambda *args: 0.5)  # as if onnxruntime disagreed
    with pytest.raises(UserError, match="parity check failed"):
        export_module.export(checkpoint, tmp_path / "bad", faces)
    assert not (tmp_path / "bad" / "model.onnx").exists()


def test_parity_is_measured_on_real_faces(tiny_faces, tiny_model):
    _, b = tiny_faces
    faces = load_faceset(b, 64, max_faces=4).images
    checkpoint = next((tiny_model.parent.parent).glob("tiny-run*/checkpoints/*.pt"))
    model, _ = export_module.load_model(checkpoint)
    worst = export_module.parity(export_module.SwapToPresenter(model), tiny_model / "model.onnx", faces)
    assert worst < 1e-4


def test_landmark_model_exports_two_inputs_and_listens_to_them(tiny_faces, tmp_path):
    import dataclasses

    from avatar.inference import load_swap_model
    from avatar.training.model import preset
    from avatar.training.train import TrainConfig, train

    a, b = tiny_faces
    config = dataclasses.replace(preset("fast", 64), landmarks=True)
    train(a, b, tmp_path / "run", config, TrainConfig(steps=4, batch=4, checkpoint_every=4, preview_every=4))
    faces = load_faceset(b, 64, max_faces=4)
    with pytest.raises(UserError, match="takes landmarks"):
        export_module.export(tmp_path / "run/checkpoints/step_00000004.pt", tmp_path / "m0", faces.images)
    report = export_module.export(tmp_path / "run/checkpoints/step_00000004.pt", tmp_path / "m", faces.images,
                                  parity_landmarks=faces.landmarks)
    assert report.parity_max_abs < 1e-4
    model = load_swap_model(tmp_path / "m" / "model.onnx")
    assert model.takes_landmarks
    with pytest.raises(ValueError, match="needs"):
        model.run(faces.images)
    mouth_open = faces.landmarks.copy()
    mouth_open[:, 56:59, 1] += 6  # lower lip down
    mouth_open[:, 65:68, 1] += 6
    same, _ = model.run(faces.images, faces.landmarks)
    moved, _ = model.run(faces.images, mouth_open)
    assert np.abs(same.astype(int) - moved.astype(int)).max() > 0  # the landmarks reach the output
