"""Running exported models with onnxruntime (owns onnxruntime; never imports torch)."""

from avatar.inference.providers import choose_providers, gpu_present
from avatar.inference.swap import SwapModel, load_swap_model

__all__ = ["choose_providers", "gpu_present", "SwapModel", "load_swap_model"]
