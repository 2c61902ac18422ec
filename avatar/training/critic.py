"""An adversarial critic for sharper faces: a small patch discriminator and hinge losses.

Reconstruction losses (DSSIM + L1) are satisfied by the average of every plausible face, which
is a blurred face: eyes turn into dark smudges, teeth and lids vanish. A patch discriminator
that judges small overlapping windows of the inner face as real presenter or rendered pushes
the decoder towards the presenter's real texture (DeepFaceLab's "GAN power" idea; our own
design). It sees the presenter's real faces against both the presenter's re-drawn faces
(B->B) and the driver's faces re-drawn as the presenter (A->B), the path every rendered answer
takes, which reconstruction losses never supervise at all.

Only the inner face (brows to chin, cheek to cheek of the aligned crop) is judged, so the
people's different backgrounds and face outlines give the critic nothing to key on.
Images are NCHW float in [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

# The inner face's box in an aligned crop, as shares of the side (rows, columns): from the brows
# to the chin, cheek to cheek (see avatar.vision.align's template).
INNER_ROWS = (0.22, 0.92)
INNER_COLS = (0.14, 0.86)


def inner_face(images: torch.Tensor) -> torch.Tensor:
    """The inner-face box of aligned crops (N, C, S, S) -> (N, C, h, w)."""
    size = images.shape[-1]
    top, bottom = (round(share * size) for share in INNER_ROWS)
    left, right = (round(share * size) for share in INNER_COLS)
    return images[..., top:bottom, left:right]


class PatchDiscriminator(nn.Module):
    """Logits (N, 1, h/8, w/8), one per ~22-pixel window: > 0 reads as a real presenter face.
    Spectral normalisation keeps it from overpowering the autoencoder on tiny batches."""

    def __init__(self, dims: int = 32):
        super().__init__()
        layers, channels = [], 3
        for i, out in enumerate((dims, 2 * dims, 4 * dims)):
            layers += [spectral_norm(nn.Conv2d(channels, out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            channels = out
        layers.append(spectral_norm(nn.Conv2d(channels, 1, 3, padding=1)))
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images * 2 - 1)


def critic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the discriminator: real above +1, fake below -1."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the generator: raise the critic's score of its faces."""
    return -fake_logits.mean()
