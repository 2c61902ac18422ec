"""The one ONNX writer of the exports: metadata, a dynamic batch, and the CPU parity check."""

import onnx
import torch

from avatar.training.onnx_file import OPSET, parity_error, write_onnx


def test_a_module_is_written_with_its_metadata_and_runs_like_torch(tmp_path):
    module = torch.nn.Linear(4, 3).eval()
    path = tmp_path / "linear.onnx"
    write_onnx(module, (torch.rand(2, 4),), path, ["x"], ["y"], ["x", "y"], {"avatar.step": "7"})
    proto = onnx.load(str(path))
    assert {p.key: p.value for p in proto.metadata_props} == {"avatar.step": "7"}
    assert proto.opset_import[0].version == OPSET
    x = torch.rand(5, 4)  # another batch size than the example's
    with torch.no_grad():
        expected = module(x).numpy()
    assert parity_error(path, {"x": x.numpy()}, ["y"], [expected]) < 1e-5
    assert parity_error(path, {"x": x.numpy()}, ["y"], [expected + 1]) > 0.99
