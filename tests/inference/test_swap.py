import pickle

import numpy as np
import onnx
import pytest

from avatar.errors import UserError
from avatar.inference import choose_providers, load_swap_model
from avatar.training.checkpoint import load_checkpoint


def test_load_and_run_in_batches(tiny_model, tiny_faces):
    import cv2

    model = load_swap_model(tiny_model / "model.onnx")
    assert model.size == 64 and model.providers[0] == "CPUExecutionProvider" and not model.on_gpu
    assert model.config["separable"] is True
    crop = cv2.imread(str(next((tiny_faces[1] / "crops").glob("*.png"))))[..., ::-1]
    faces = np.repeat(crop[None], 37, axis=0)  # more than one batch
    rgb, mask = model.run(faces)
    assert rgb.shape == (37, 64, 64, 3) and rgb.dtype == np.uint8
    assert mask.shape == (37, 64, 64) and mask.dtype == np.float32
    assert (rgb == rgb[0]).all()  # same input, same output, across batches
    assert load_swap_model(tiny_model / "model.onnx") is model  # cached
    with pytest.raises(ValueError):
        model.run(np.zeros((1, 32, 32, 3), np.uint8))


def test_cpu_is_always_last_and_no_gpu_here():
    providers = choose_providers("auto")
    assert providers[-1] == "CPUExecutionProvider"
    assert choose_providers("cpu") == ["CPUExecutionProvider"]
    with pytest.raises(ValueError):
        choose_providers("quantum")


def test_truncated_model_is_refused(tiny_model, tmp_path):
    data = (tiny_model / "model.onnx").read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(UserError, match="not a readable ONNX model"):
        load_swap_model(cut)


def test_external_data_is_refused(tiny_model, tmp_path):
    # A hostile file: weights "stored" in a file outside the model folder.
    model = onnx.load(str(tiny_model / "model.onnx"))
    onnx.external_data_helper.convert_model_to_external_data(model, location="weights.bin", size_threshold=0)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../../etc/passwd"
    path = tmp_path / "split.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(UserError, match="external file"):
        load_swap_model(path)


def test_some_other_onnx_model_is_refused(tmp_path):
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])], "other",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    path = tmp_path / "other.onnx"
    onnx.save(onnx.helper.make_model(graph), str(path))
    with pytest.raises(UserError, match="not a presenter swap model"):
        load_swap_model(path)


class _Payload:
    def __reduce__(self):  # what a malicious pickle does: call something on load
        import os

        return (os.system, ("echo pwned > /dev/null",))


def test_pickled_code_in_a_checkpoint_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"model": _Payload()}, f, protocol=2)
    with pytest.raises(UserError, match="refusing to load evil.pt"):
        load_checkpoint(path)


def test_truncated_checkpoint_is_refused(tiny_model, tmp_path):
    data = (tiny_model / "weights.pt").read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="not a readable checkpoint"):
        load_checkpoint(cut)
