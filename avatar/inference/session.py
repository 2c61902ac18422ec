"""Loading our ONNX files safely and opening onnxruntime sessions on the best provider present:
shared by the swap model and the face generator."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import onnx
import onnxruntime as ort
from google.protobuf.message import DecodeError

from avatar.errors import UserError
from avatar.inference.providers import CPU, choose_providers, gpu_present, provider_name
from avatar.paths import cache_dir

log = logging.getLogger(__name__)


def read_model_file(path: Path) -> onnx.ModelProto:
    """Parse an ONNX file without running it; refuse truncated, foreign-format or external-data
    files (our exports are single files; an external reference could point anywhere on disk)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model file {path} was not found.")
    try:
        # Always as binary protobuf: onnx picks a text format by the file's extension otherwise.
        model = onnx.load(str(path), format="protobuf", load_external_data=False)
    except (DecodeError, ValueError, OSError) as error:
        raise UserError(f"{path.name} is not a readable ONNX model (truncated or corrupt: {error}).") from None
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            where = {e.key: e.value for e in tensor.external_data}.get("location", "?")
            raise UserError(f"{path.name} keeps weights in an external file ({where}); only single-file "
                            "models are accepted.")
    return model


def create_session(model: bytes | str, name: str, prefer: str = "auto", threads: int | None = None,
                   low_memory: bool = False, spin: bool = True) -> tuple[ort.InferenceSession, list[str]]:
    """An onnxruntime session for a serialised model (or the path of a file of our own making)
    on the best provider present, and the providers it really uses (a GPU that was wanted but
    failed to load is logged as a warning). low_memory: no memory arena (a model run on inputs of many sizes, kept by a long-lived
    process, would otherwise hold its largest run's memory). spin False: its threads sleep
    between ops instead of spinning (a model run beside other work on few cores: spinning threads
    starve the others and themselves). UserError when onnxruntime cannot load the model."""
    options = ort.SessionOptions()
    if low_memory:
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # One op at a time, each using every core: best for a small conv net on a small machine.
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    requested = choose_providers(prefer, cache_dir=str(cache_dir("tensorrt")))
    try:
        session = ort.InferenceSession(model, options, providers=requested)
    except Exception as error:  # onnxruntime raises its own exception types
        raise UserError(f"onnxruntime could not load {name}: {str(error)[:300]}") from None
    used = session.get_providers()
    wanted_gpu = prefer in ("cuda", "tensorrt") or (prefer == "auto" and gpu_present())
    if wanted_gpu and used[0] == CPU:
        log.warning("A GPU was wanted for %s but onnxruntime runs it on the CPU (requested %s). Install "
                    "onnxruntime-gpu with matching CUDA/cuDNN, or pass prefer='cpu' to silence this.",
                    name, [provider_name(p) for p in requested])
    log.info("%s runs on %s", name, used[0])
    return session, used


def open_model_file(path: Path, prefer: str = "auto", threads: int | None = None) -> ort.InferenceSession:
    """A session for the ONNX file at `path`, read as `read_model_file` reads it (for checks and
    tools: exports compare it with torch on `prefer="cpu"`)."""
    session, _ = create_session(read_model_file(path).SerializeToString(), Path(path).name, prefer, threads)
    return session
