"""Measuring presenters: identity, expression following, reconstruction, flicker (offline)."""

from avatar.metrics.expression import pearson
from avatar.metrics.identity import IdentityReference, face_embedding
from avatar.metrics.image import face_flicker, ssim

__all__ = ["pearson", "IdentityReference", "face_embedding", "face_flicker", "ssim"]
