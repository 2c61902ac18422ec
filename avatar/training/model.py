"""The face-swap autoencoder: a shared encoder and bottleneck, one decoder per identity.

A DeepFaceLab-style "DF" design (our own code): the encoder and bottleneck see both people, so
the code describes pose, expression and lighting; decoder A paints person A (the driver),
decoder B paints person B (the presenter). Swapping = encode a driver face, decode with B.
Each decoder predicts RGB and a face mask.

Tensors are NCHW float32, RGB, values in [0, 1]. A model file holds config and modules only:
no I/O (see checkpoint.py for that).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from avatar.vision.align import TEMPLATE_68


@dataclass(frozen=True)
class SwapConfig:
    """Architecture. `preset()` gives the two measured designs; fields can be set one by one."""

    size: int = 128  # input/output side in pixels, 64..256, a multiple of 16
    encoder_dims: int = 64  # channels after the first encoder stage (doubles per stage)
    bottleneck_dims: int = 256  # size of the shared code vector
    # Channels of the small maps on either side of the code vector (None: 8 x encoder_dims in,
    # bottleneck_dims out, as DeepFaceLab does). Fewer channels shrink the two dense layers,
    # which otherwise hold most of the weights.
    map_dims: int | None = None
    decoder_dims: int = 64  # channels of the last decoder stage (doubles towards the bottleneck)
    separable: bool = False  # depthwise-separable convs instead of full 3x3/5x5 convs
    residual_blocks: int = 1  # residual blocks after each decoder upsampling stage
    # Give each decoder the face's expression landmarks (brows, eyes, mouth in crop coordinates)
    # besides the shared code, so the presenter's mouth can follow the driver's directly rather
    # than only through what the code happens to keep.
    landmarks: bool = False

    def __post_init__(self):
        if not (64 <= self.size <= 256 and self.size % 16 == 0):
            raise ValueError(f"model size must be a multiple of 16 between 64 and 256, got {self.size}")

    @property
    def encoder_out(self) -> int:
        return self.map_dims or 8 * self.encoder_dims

    @property
    def decoder_in(self) -> int:
        return self.map_dims or self.bottleneck_dims

    @property
    def low_res(self) -> int:
        """Side of the feature map at the bottleneck (the input shrinks 16x)."""
        return self.size // 16

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    # About the size of DeepFaceLab's default 128 px "DF" model: full convolutions, 21 GFLOP a
    # frame at 128 px (fast: 0.5 GFLOP).
    "quality": dict(encoder_dims=64, bottleneck_dims=256, decoder_dims=64, separable=False, residual_blocks=2),
    # Depthwise-separable convolutions, pixel-shuffle upsampling and narrower late stages:
    # designed for >= 100 frames/s at 128 px through onnxruntime on a 2-core CPU.
    # 64-channel maps around the code keep the file small (9.7M -> 3.6M weights).
    "fast": dict(encoder_dims=32, bottleneck_dims=256, decoder_dims=32, separable=True, residual_blocks=1,
                 map_dims=64),
}


def preset(name: str, size: int = 128) -> SwapConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return SwapConfig(size=size, **PRESETS[name])


def _conv(cin: int, cout: int, kernel: int, stride: int, separable: bool) -> nn.Module:
    if separable and cin > 3:
        return nn.Sequential(
            nn.Conv2d(cin, cin, kernel, stride, kernel // 2, groups=cin, bias=False),
            nn.Conv2d(cin, cout, 1),
        )
    return nn.Conv2d(cin, cout, kernel, stride, kernel // 2)


class _Down(nn.Module):
    def __init__(self, cin: int, cout: int, separable: bool):
        super().__init__()
        self.conv = _conv(cin, cout, 5, 2, separable)

    def forward(self, x):
        return F.leaky_relu(self.conv(x), 0.1)


class _Up(nn.Module):
    """Upsample 2x by predicting 4x channels and pixel-shuffling them (no checkerboard)."""

    def __init__(self, cin: int, cout: int, separable: bool):
        super().__init__()
        self.conv = _conv(cin, cout * 4, 3, 1, separable)

    def forward(self, x):
        return F.pixel_shuffle(F.leaky_relu(self.conv(x), 0.1), 2)


class _Residual(nn.Module):
    def __init__(self, ch: int, separable: bool):
        super().__init__()
        self.conv1 = _conv(ch, ch, 3, 1, separable)
        self.conv2 = _conv(ch, ch, 3, 1, separable)

    def forward(self, x):
        return F.leaky_relu(x + self.conv2(F.leaky_relu(self.conv1(x), 0.2)), 0.2)


class Encoder(nn.Module):
    """(N, 3, S, S) -> (N, encoder_out, S/16, S/16) features."""

    def __init__(self, config: SwapConfig):
        super().__init__()
        e, sep = config.encoder_dims, config.separable
        layers = [_Down(3, e, sep), _Down(e, 2 * e, sep), _Down(2 * e, 4 * e, sep), _Down(4 * e, 8 * e, sep)]
        if config.encoder_out != 8 * e:
            layers.append(nn.Conv2d(8 * e, config.encoder_out, 1))
        self.stages = nn.Sequential(*layers)

    def forward(self, x):
        return self.stages(x)


class Bottleneck(nn.Module):
    """Features -> code vector -> (N, decoder_in, S/16, S/16) map the decoders start from."""

    def __init__(self, config: SwapConfig):
        super().__init__()
        low = config.low_res
        self.low, self.dims = low, config.decoder_in
        self.to_code = nn.Linear(config.encoder_out * low * low, config.bottleneck_dims)
        self.from_code = nn.Linear(config.bottleneck_dims, config.decoder_in * low * low)

    def forward(self, features):
        code = self.to_code(features.flatten(1))
        return self.from_code(code).view(-1, self.dims, self.low, self.low)


# Landmarks that carry expression: brows, eyes and mouth (17-26, 36-67).
EXPRESSION_POINTS = list(range(17, 27)) + list(range(36, 68))


class LandmarkCode(nn.Module):
    """(N, 68, 2) crop-pixel landmarks -> (N, C, S/16, S/16) map added to the decoder's input.

    Uses the offset of each expression landmark from the alignment template (scaled so typical
    offsets are about 1), which removes what alignment already fixes.
    """

    def __init__(self, config: SwapConfig):
        super().__init__()
        self.size, self.low, self.channels = config.size, config.low_res, config.decoder_in
        self.register_buffer("template", torch.tensor(TEMPLATE_68[EXPRESSION_POINTS], dtype=torch.float32))
        self.mlp = nn.Sequential(nn.Linear(2 * len(EXPRESSION_POINTS), 128), nn.LeakyReLU(0.1),
                                 nn.Linear(128, config.decoder_in * config.low_res**2))

    def forward(self, landmarks):
        offsets = (landmarks[:, EXPRESSION_POINTS] / self.size - self.template) * 20
        return self.mlp(offsets.flatten(1)).view(-1, self.channels, self.low, self.low)


class Decoder(nn.Module):
    """(N, B, S/16, S/16) -> RGB (N, 3, S, S) and mask (N, 1, S, S), both in [0, 1].

    Three pixel-shuffle upsamplings with residual blocks bring the map to S/2; the last 3x3
    conv predicts 4 output pixels per position, shuffled to S. No convolution runs at full
    resolution, which halves the cost of training on a CPU at equal quality of detail.
    """

    def __init__(self, config: SwapConfig):
        super().__init__()
        d, sep, blocks = config.decoder_dims, config.separable, config.residual_blocks
        widths = [config.decoder_in, 8 * d, 4 * d, 2 * d]
        layers = []
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers.append(_Up(cin, cout, sep))
            layers.extend(_Residual(cout, sep) for _ in range(blocks))
        self.stages = nn.Sequential(*layers)
        self.to_output = nn.Conv2d(2 * d, 4 * 4, 3, padding=1)  # (RGB + mask) x 2x2 sub-pixels
        self.landmark_code = LandmarkCode(config) if config.landmarks else None

    def forward(self, x, landmarks=None):
        if self.landmark_code is not None:
            x = x + self.landmark_code(landmarks)
        out = F.pixel_shuffle(self.to_output(self.stages(x)), 2)
        return torch.sigmoid(out[:, :3]), torch.sigmoid(out[:, 3:])


class SwapAutoencoder(nn.Module):
    """Shared encoder + bottleneck, decoder `a` (driver) and decoder `b` (presenter)."""

    def __init__(self, config: SwapConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.bottleneck = Bottleneck(config)
        self.decoder_a = Decoder(config)
        self.decoder_b = Decoder(config)

    def forward(self, faces: torch.Tensor, identity: str = "b",
                landmarks: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Re-render (N, 3, S, S) RGB [0, 1] faces as identity "a" or "b": (rgb, mask).

        landmarks: (N, 68, 2) float crop pixels, required when `config.landmarks`."""
        decoder = self.decoder_b if identity == "b" else self.decoder_a
        return decoder(self.bottleneck(self.encoder(faces)), landmarks)


class SwapToPresenter(nn.Module):
    """What is exported: any face (and, for landmark models, its landmarks) in, the presenter
    (decoder b) out."""

    def __init__(self, model: SwapAutoencoder):
        super().__init__()
        self.model = model

    def forward(self, face, landmarks=None):
        return self.model(face, "b", landmarks)
