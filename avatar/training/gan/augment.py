"""Differentiable augmentation with an adaptive strength, for GANs on small single-person sets.

With a few thousand frames of one person, the discriminator memorises the training images and
training collapses. Augmenting *every* image the discriminator sees (real and generated alike)
with random flips, shifts, rotations, scaling, colour changes and cut-outs, each applied with
probability p, stops that; because the operations are differentiable, the generator still
learns from the discriminator through them. p is steered like StyleGAN2-ADA does: r_t, the
share of real images the discriminator calls real (E[sign D(x)]), is held near a target (0.6) by
raising p when it overfits and lowering it when it does not. With p below about 0.8 none of
these operations "leaks" into the generated faces (ADA's finding): the generator cannot tell
which images were augmented. Our own implementation of that idea.

Images are NCHW float RGB in [-1, 1]; random draws use torch's global RNG (saved in checkpoints).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def augment(images: torch.Tensor, p: float) -> torch.Tensor:
    """Each operation applied to each image independently with probability p."""
    if p <= 0:
        return images
    n, device = len(images), images.device

    def chosen() -> torch.Tensor:
        return (torch.rand(n, device=device) < p).float()

    # Geometry: one affine map per image from x-flip, integer-ish shift, isotropic scale, rotation.
    flip = 1 - 2 * chosen() * (torch.rand(n, device=device) < 0.5).float()
    shift = (torch.rand(n, 2, device=device) * 2 - 1) * 0.25 * chosen()[:, None]  # +-1/8 side (grid units span 2)
    scale = torch.exp2(torch.randn(n, device=device) * 0.2 * chosen())
    angle = (torch.rand(n, device=device) * 2 - 1) * math.pi * chosen()
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)  # (n, 2, 3), output -> input coords
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    # Colour: brightness, contrast, saturation.
    images = images + (torch.randn(n, 1, 1, 1, device=device) * 0.2 * chosen()[:, None, None, None])
    mean = images.mean((1, 2, 3), keepdim=True)
    images = (images - mean) * torch.exp2(torch.randn(n, 1, 1, 1, device=device) * 0.5
                                          * chosen()[:, None, None, None]) + mean
    grey = images.mean(1, keepdim=True)
    images = (images - grey) * torch.exp2(torch.randn(n, 1, 1, 1, device=device)
                                          * chosen()[:, None, None, None]) + grey

    # Cut-out: a square of half the side set to 0 (mid grey).
    side = images.shape[-1]
    centre = torch.rand(n, 2, device=device)
    coords = (torch.arange(side, device=device, dtype=images.dtype) + 0.5) / side
    inside_x = (coords[None] - centre[:, :1]).abs() < 0.25  # (n, W)
    inside_y = (coords[None] - centre[:, 1:]).abs() < 0.25  # (n, H)
    inside = (inside_y[:, :, None] & inside_x[:, None, :]).to(images.dtype)  # (n, H, W)
    keep = 1 - inside[:, None] * chosen()[:, None, None, None]
    return images * keep


class AdaptiveStrength:
    """Steers the augmentation probability p from the discriminator's outputs on real images."""

    def __init__(self, target: float = 0.6, interval: int = 4, speed_kimg: float = 100.0, p: float = 0.0):
        self.target, self.interval, self.speed_kimg, self.p = target, interval, speed_kimg, p
        self.sign_sum, self.count, self.last_rt = 0.0, 0, float("nan")

    def observe(self, real_logits: torch.Tensor) -> None:
        self.sign_sum += float(torch.sign(real_logits.detach()).sum())
        self.count += len(real_logits)

    def update(self, batch: int) -> None:
        """Called every step; every `interval` steps moves p by at most batch*interval/(speed*1000)."""
        if self.count == 0 or self.count < self.interval * batch:
            return
        self.last_rt = self.sign_sum / self.count
        step = math.copysign(batch * self.interval / (self.speed_kimg * 1000), self.last_rt - self.target)
        self.p = min(max(self.p + step, 0.0), 1.0)
        self.sign_sum, self.count = 0.0, 0

    def state_dict(self) -> dict:
        return {"p": self.p, "sign_sum": self.sign_sum, "count": self.count, "last_rt": self.last_rt}

    def load_state_dict(self, state: dict) -> None:
        self.p, self.sign_sum, self.count, self.last_rt = (state["p"], state["sign_sum"], state["count"],
                                                           state["last_rt"])
