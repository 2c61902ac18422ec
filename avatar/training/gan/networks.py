"""StyleGAN2 generator and discriminator, our own compact implementation in plain PyTorch ops.

The design follows Karras et al., "Analyzing and Improving the Image Quality of StyleGAN"
(2020): a mapping network turns a latent z into a style w; a synthesis network grows a learned
4x4 constant to the output side through blocks of modulated/demodulated 3x3 convolutions with
per-pixel noise, summing each block's RGB output into an upsampled running image (the "skip"
generator); a residual discriminator judges images. Weights use the equalised learning rate
(stored N(0, 1), scaled by 1/sqrt(fan-in) when used). Resampling is bilinear (for 2x that is the
paper's [1, 3, 3, 1] filter), so nothing needs a compiled CUDA extension.

Images are NCHW float RGB in [-1, 1].
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

SQRT2 = math.sqrt(2)


@dataclass(frozen=True)
class GanConfig:
    """Architecture. Channels at resolution r: min(channel_base // r, channel_max)."""

    size: int = 64  # output side, a power of two, 32..1024
    z_dim: int = 256
    w_dim: int = 256
    mapping_layers: int = 4
    channel_base: int = 4096
    channel_max: int = 128
    mbstd_group: int = 4  # minibatch-stddev group size in the discriminator

    def __post_init__(self):
        if self.size < 8 or self.size & (self.size - 1):
            raise ValueError(f"GAN size must be a power of two >= 8, got {self.size}")

    def channels(self, resolution: int) -> int:
        return min(self.channel_base // resolution, self.channel_max)

    @property
    def resolutions(self) -> list[int]:
        """Block resolutions 4, 8, ..., size."""
        return [2 ** i for i in range(2, int(math.log2(self.size)) + 1)]

    @property
    def num_ws(self) -> int:
        """How many style vectors the synthesis network takes (one per modulated layer)."""
        return 2 * len(self.resolutions)  # 4x4: conv + rgb; then two convs per block (rgb shares the 2nd's w)

    def to_dict(self) -> dict:
        return asdict(self)


def preset(name: str, size: int) -> GanConfig:
    """`cpu`: at most 128 channels, 32 at the output side (64 px: 1.5 M generator parameters,
    about 1.3 s a step of 16 images on one core), which learns one person's face on the 2-core
    CPU in hours. `paper`: the StyleGAN2-ADA paper's configuration for 128-256 px on GPUs
    (mapping 8, w 512, up to 512 channels)."""
    if name == "cpu":
        return GanConfig(size=size, channel_base=32 * size, channel_max=128)
    if name == "paper":
        return GanConfig(size=size, z_dim=512, w_dim=512, mapping_layers=8, channel_base=16384, channel_max=512)
    raise ValueError(f"unknown GAN preset {name!r} (cpu, paper)")


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU with the gain sqrt(2) that keeps activations at unit variance."""
    return F.leaky_relu(x, 0.2) * SQRT2


class Dense(nn.Module):
    """Fully connected layer with equalised learning rate (lr_mul slows the mapping network)."""

    def __init__(self, fan_in: int, fan_out: int, bias_init: float = 0.0, lr_mul: float = 1.0, act: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((fan_out,), float(bias_init) / lr_mul))
        self.scale, self.lr_mul, self.act = lr_mul / math.sqrt(fan_in), lr_mul, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return lrelu(x) if self.act else x


class Conv(nn.Module):
    """Plain convolution with equalised learning rate (discriminator)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, bias: bool = True, act: bool = True, down: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.scale, self.act, self.down = 1 / math.sqrt(c_in * kernel * kernel), act, down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down:  # blur-and-halve before the conv, as the paper's FIR downsampling does
            x = downsample(x)
        x = F.conv2d(x, self.weight * self.scale, self.bias, padding=self.weight.shape[-1] // 2)
        return lrelu(x) if self.act else x


def upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def downsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False, antialias=True)


class MappingNetwork(nn.Module):
    """z (N, z_dim) -> w (N, w_dim). Keeps a running mean of w for the truncation trick."""

    def __init__(self, config: GanConfig):
        super().__init__()
        dims = [config.z_dim] + [config.w_dim] * config.mapping_layers
        self.layers = nn.Sequential(*[Dense(a, b, lr_mul=0.01, act=True) for a, b in zip(dims[:-1], dims[1:])])
        self.register_buffer("w_avg", torch.zeros(config.w_dim))

    def forward(self, z: torch.Tensor, psi: float = 1.0, track: bool = False) -> torch.Tensor:
        z = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)  # onto the sphere
        w = self.layers(z)
        if track:  # training: follow the mean style slowly (w_avg_beta 0.995 as in the paper)
            self.w_avg.copy_(w.detach().float().mean(0).lerp(self.w_avg, 0.995))
        if psi != 1:
            w = self.w_avg.lerp(w, psi)
        return w


class ModulatedConv(nn.Module):
    """A convolution whose input channels are scaled by a style from w, then demodulated so
    each output channel has unit expected variance (replaces AdaIN without its droplet
    artefacts). Implemented as scale-input / conv / scale-output, which equals the paper's
    per-sample weight modulation and runs as one batched conv."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, kernel: int = 3, demodulate: bool = True, up: bool = False):
        super().__init__()
        self.affine = Dense(w_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.scale, self.demodulate, self.up = 1 / math.sqrt(c_in * kernel * kernel), demodulate, up

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        style = self.affine(w)  # (N, c_in)
        weight = self.weight * self.scale
        if self.up:
            x = upsample(x)
        x = F.conv2d(x * style[:, :, None, None], weight, padding=weight.shape[-1] // 2)
        if self.demodulate:
            # 1 / ||w_ij * s_i||_2 over input channels and taps, per sample and output channel
            demod = torch.rsqrt((weight.square().sum((2, 3))[None] * style.square()[:, None, :]).sum(2) + 1e-8)
            x = x * demod[:, :, None, None]
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv + per-pixel noise (learned strength) + bias + leaky ReLU."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, resolution: int, up: bool = False):
        super().__init__()
        self.conv = ModulatedConv(c_in, c_out, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))
        self.resolution = resolution

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: str = "random") -> torch.Tensor:
        x = self.conv(x, w)
        if noise == "random":
            x = x + torch.randn(len(x), 1, self.resolution, self.resolution, device=x.device,
                                dtype=x.dtype) * self.noise_strength
        elif noise == "const":
            x = x + self.noise_const.to(x.dtype) * self.noise_strength
        return lrelu(x + self.bias[:, None, None])


class ToRGB(nn.Module):
    def __init__(self, c_in: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv(c_in, 3, w_dim, kernel=1, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[:, None, None]


class SynthesisNetwork(nn.Module):
    """ws (N, num_ws, w_dim) -> images (N, 3, size, size) in about [-1, 1]."""

    def __init__(self, config: GanConfig):
        super().__init__()
        c4 = config.channels(4)
        self.const = nn.Parameter(torch.randn(c4, 4, 4))
        self.first = SynthesisLayer(c4, c4, config.w_dim, 4)
        self.first_rgb = ToRGB(c4, config.w_dim)
        self.blocks = nn.ModuleList()
        for res in config.resolutions[1:]:
            c_in, c_out = config.channels(res // 2), config.channels(res)
            self.blocks.append(nn.ModuleList([SynthesisLayer(c_in, c_out, config.w_dim, res, up=True),
                                              SynthesisLayer(c_out, c_out, config.w_dim, res),
                                              ToRGB(c_out, config.w_dim)]))

    def forward(self, ws: torch.Tensor, noise: str = "random") -> torch.Tensor:
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)  # shape, not len(): dynamic in ONNX
        x = self.first(x, ws[:, 0], noise)
        image = self.first_rgb(x, ws[:, 1])
        for i, (conv_up, conv, to_rgb) in enumerate(self.blocks):
            x = conv_up(x, ws[:, 2 * i + 1], noise)
            x = conv(x, ws[:, 2 * i + 2], noise)
            image = upsample(image) + to_rgb(x, ws[:, 2 * i + 3])
        return image


class Generator(nn.Module):
    """z (N, z_dim) -> images (N, 3, size, size), RGB in about [-1, 1]."""

    def __init__(self, config: GanConfig):
        super().__init__()
        self.config = config
        self.mapping = MappingNetwork(config)
        self.synthesis = SynthesisNetwork(config)

    def styles(self, z: torch.Tensor, psi: float = 1.0, track: bool = False) -> torch.Tensor:
        """z -> ws (N, num_ws, w_dim), the same w broadcast to every layer."""
        return self.mapping(z, psi, track)[:, None].expand(-1, self.config.num_ws, -1)

    def forward(self, z: torch.Tensor, psi: float = 1.0, noise: str = "random") -> torch.Tensor:
        return self.synthesis(self.styles(z, psi), noise)


class DiscriminatorBlock(nn.Module):
    """Two 3x3 convs (the second halving the side) plus a 1x1 residual path, scaled by 1/sqrt(2)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv0 = Conv(c_in, c_in, 3)
        self.conv1 = Conv(c_in, c_out, 3, down=True)
        self.skip = Conv(c_in, c_out, 1, bias=False, act=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.skip(x) + self.conv1(self.conv0(x))) / SQRT2


class Discriminator(nn.Module):
    """images (N, 3, size, size) in [-1, 1] -> logits (N,): > 0 reads as real."""

    def __init__(self, config: GanConfig):
        super().__init__()
        self.config = config
        top = config.resolutions[-1]
        self.from_rgb = Conv(3, config.channels(top), 1)
        self.blocks = nn.Sequential(*[DiscriminatorBlock(config.channels(res), config.channels(res // 2))
                                      for res in reversed(config.resolutions[1:])])
        c4 = config.channels(4)
        self.conv = Conv(c4 + 1, c4, 3)
        self.fc = Dense(c4 * 16, c4, act=True)
        self.out = Dense(c4, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.from_rgb(images))
        x = self.conv(minibatch_stddev(x, self.config.mbstd_group))
        return self.out(self.fc(x.flatten(1)))[:, 0]


def minibatch_stddev(x: torch.Tensor, group: int) -> torch.Tensor:
    """Append one channel: the mean standard deviation of features across groups of `group`
    samples, so the discriminator can see a batch with too little variety (mode collapse)."""
    n, c, h, w = x.shape
    g = min(group, n)
    if n % g:
        g = 1
    y = x.reshape(g, n // g, c, h, w)
    y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt()  # (n/g, c, h, w)
    y = y.mean((1, 2, 3))[:, None, None, None].repeat(g, 1, h, w)  # (n, 1, h, w): sample k gets group k % (n/g)
    return torch.cat([x, y], 1)
