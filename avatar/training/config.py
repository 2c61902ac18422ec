"""The training loops' settings, kept free of torch so that the command line can read their
defaults without loading it: the swap autoencoder's (`TrainConfig`, with its augmentation) and
the GAN's (`GanTrainConfig`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AugmentConfig:
    rotation: float = 10.0  # degrees, +-
    scale: float = 0.05  # +- share
    shift: float = 0.05  # +- share of the side
    flip: float = 0.5  # probability of a horizontal flip
    warp: float = 0.025  # random-warp strength (share of the side) of the input only
    colour: float = 0.08  # brightness/contrast/saturation jitter, applied to input and target


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 100_000  # total optimiser steps (a resumed run stops at the same total)
    batch: int = 16  # faces per identity per step (per process under DDP)
    lr: float = 1e-4
    detail_weight: float = 3.0  # extra L1 weight on the eyes and mouth, where expression lives
    mask_weight: float = 1.0
    log_every: int = 25
    preview_every: int = 250
    checkpoint_every: int = 250
    keep: int = 3  # checkpoints kept
    seed: int = 0
    max_faces: int | None = None  # thin each face set to at most this many faces
    # Adversarial critic on the inner face (avatar/training/critic.py): weight of its loss in the
    # autoencoder's (0 = off), the critic's width, and whether it also judges A->B faces (else
    # B->B only, as DeepFaceLab does).
    gan_weight: float = 0.0
    gan_dims: int = 32
    gan_swapped: bool = True
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass(frozen=True)
class GanTrainConfig:
    kimg: float = 1000.0  # training length in thousands of real images shown to D (all processes)
    batch: int = 16  # images per step per process
    lr: float = 0.0025
    r1_gamma: float | None = None  # None: 0.0002 * size^2 / batch (StyleGAN2-ADA's heuristic)
    r1_every: int = 16
    pl_weight: float = 0.0  # path-length regularisation weight (the paper: 2); 0 = off
    pl_every: int = 4
    style_mixing: float = 0.9  # probability of mixing two latents' styles in a generated batch
    ema_kimg: float | None = None  # EMA half-life in kimg; None: batch * world * 10 / 32
    ema_rampup: float = 0.05  # the half-life is at most this share of the images seen so far
    augment: bool = True  # adaptive differentiable augmentation
    augment_p: float = 0.0  # starting probability (then steered towards augment_target)
    augment_target: float = 0.6
    augment_speed_kimg: float = 20.0  # thousands of images for p to go from 0 to 1 at the fastest
    mirror: bool = True  # also train on x-flipped real faces
    log_every: int = 20  # steps
    checkpoint_kimg: float = 4.0  # checkpoint + snapshot interval
    keep: int = 3
    seed: int = 0
    max_images: int | None = None

    def gamma(self, size: int) -> float:
        return self.r1_gamma if self.r1_gamma is not None else 0.0002 * size ** 2 / self.batch
