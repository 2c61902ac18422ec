"""What every export here does to a torch module: write it as one ONNX file (opset 17, a
dynamic batch, our metadata) and check that onnxruntime on the CPU draws what torch draws.
Used by the swap model, the GAN's generator and the refiner."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from avatar.inference.session import open_model_file

OPSET = 17


def write_onnx(module: torch.nn.Module, example: tuple[torch.Tensor, ...], path: Path, inputs: list[str],
               outputs: list[str], batched: list[str], metadata: dict[str, str], check: bool = True) -> None:
    """Export `module` called on `example` to `path`, named `inputs` -> `outputs` (those in
    `batched` with a dynamic first axis), with `metadata` (checked by onnx.checker when `check`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(module, example, str(path), input_names=inputs, output_names=outputs,
                          dynamic_axes={name: {0: "batch"} for name in batched}, opset_version=OPSET, dynamo=False)
    proto = onnx.load(str(path))
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    if check:
        onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def parity_error(path: Path, feeds: dict[str, np.ndarray], outputs: list[str], expected: list[np.ndarray]) -> float:
    """Largest absolute difference between onnxruntime's CPU `outputs` of the file at `path` for
    `feeds` and torch's `expected` ones (the same order)."""
    got = open_model_file(path, prefer="cpu").run(outputs, feeds)
    return float(max(np.abs(want - have).max() for want, have in zip(expected, got)))
