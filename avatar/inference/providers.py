"""Which onnxruntime execution providers to use, decided in one place.

`onnxruntime-gpu` lists CUDA (and TensorRT) as available even on a machine without a GPU or
driver, and a session silently falls back to the CPU when they fail to load. So a GPU provider
is only requested when a GPU is really present, and the caller checks `session.get_providers()`
afterwards (see swap.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache

import onnxruntime as ort

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"


@lru_cache(maxsize=1)
def gpu_present() -> bool:
    """True when an NVIDIA GPU answers `nvidia-smi -L`."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        return subprocess.run([smi, "-L"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def choose_providers(prefer: str = "auto", cache_dir: str | None = None) -> list:
    """Providers, best first, filtered by what this machine can really run.

    prefer: "auto" (TensorRT, then CUDA, then CPU, as far as present), "cuda", "tensorrt" or
    "cpu". CUDA uses exhaustive cuDNN algorithm search (slow first batch, fastest after);
    TensorRT caches its engines and timing data in `cache_dir` so only the first start builds them.
    """
    if prefer not in {"auto", "cpu", "cuda", "tensorrt"}:
        raise ValueError(f"unknown provider preference {prefer!r}: use auto, cpu, cuda or tensorrt")
    available = set(ort.get_available_providers())
    chosen: list = []
    if prefer != "cpu" and gpu_present():
        if prefer in ("auto", "tensorrt") and TENSORRT in available and cache_dir:
            os.makedirs(cache_dir, exist_ok=True)
            chosen.append((TENSORRT, {"trt_engine_cache_enable": True, "trt_engine_cache_path": cache_dir,
                                      "trt_timing_cache_enable": True, "trt_timing_cache_path": cache_dir,
                                      "trt_fp16_enable": True}))
        if CUDA in available:
            chosen.append((CUDA, {"cudnn_conv_algo_search": "EXHAUSTIVE"}))
    chosen.append(CPU)
    return chosen


def provider_name(provider) -> str:
    return provider[0] if isinstance(provider, tuple) else provider

