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
