"""Measures of faces, used by the offline evaluations (never by serving):

- `identity`: face_recognition embeddings, a person's reference (`reference_from_folder`) and
  the one match tolerance;
- `expression`: Pearson r of expression tracks; `image`: SSIM and colour flicker;
- `realism`: KID/FID, the inner face, sharpness, eye brightness, background bleed, motion;
- `inception`: offline Inception pool3 features, and the cached inner-face features.
"""

from avatar.metrics.expression import pearson
from avatar.metrics.identity import IdentityReference, face_embedding
from avatar.metrics.image import face_flicker, ssim

__all__ = ["pearson", "IdentityReference", "face_embedding", "face_flicker", "ssim"]
