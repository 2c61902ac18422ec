"""Running exported models with onnxruntime (owns onnxruntime; never imports torch): every
session is opened by `session.create_session` with the providers `providers` chooses (GPU when
present); runners for the swap network, the exemplar renderer's refiner and the GAN generator."""

from avatar.inference.providers import choose_providers, gpu_present
from avatar.inference.swap import SwapModel, load_swap_model

__all__ = ["choose_providers", "gpu_present", "SwapModel", "load_swap_model"]
