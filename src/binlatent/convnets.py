"""Residual convolutional networks (ELU, weight normalisation) for images: the encoder's trunk maps an
image to features, the decoder's maps a code to per-pixel likelihood parameters.

Both read and write the flat layout the rest of the library uses: images (..., H*W*C) in
(height, width, channel) order, outputs (..., H*W*P) with P parameters per pixel position.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from binlatent.elu import ELU, elu


class ResidualBlock(nn.Module):
    """x + conv(elu(conv(elu(x)))), both convolutions 3x3 and weight-normalised."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = weight_norm(nn.Conv2d(channels, channels, 3, padding=1))
        self.conv2 = weight_norm(nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(elu(self.conv1(elu(x))))


class NearestUpsample(nn.Module):
    """nn.Upsample(scale_factor=2, mode="nearest") as one strided copy: each value to a 2x2 block (torch's own
    kernel runs at a third of the speed on the CPU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, height, width = x.shape
        return x[:, :, :, None, :, None].expand(n, c, height, 2, width, 2).reshape(n, c, 2 * height, 2 * width)


def bottom_side(image_shape: Sequence[int], channels: Sequence[int]) -> tuple[int, int]:
    """Height and width after halving once per resolution below the first; raises ValueError if they do not divide."""
    factor = 2 ** (len(channels) - 1)
    height, width = image_shape[:2]
    if height % factor or width % factor:
        raise ValueError(
            f"config: network.channels has {len(channels)} resolutions, so the image side must divide by {factor}; "
            f"images are {height}x{width}: use fewer entries in network.channels"
        )
    return height // factor, width // factor


def image_channels(image_shape: Sequence[int]) -> int:
    return image_shape[2] if len(image_shape) == 3 else 1


class ConvEncoderNet(nn.Module):
    """Image -> features: a 3x3 stem, then per resolution residual blocks and a stride-2 4x4 convolution,
    residual blocks at the lowest resolution, and a weight-normalised affine map of the flattened maps."""

    def __init__(
        self, image_shape: Sequence[int], channels: Sequence[int], res_blocks: int, out_features: int, max_value: float
    ):
        super().__init__()
        self.image_shape, self.max_value = tuple(image_shape), max_value
        height, width = bottom_side(image_shape, channels)
        layers: list[nn.Module] = [weight_norm(nn.Conv2d(image_channels(image_shape), channels[0], 3, padding=1))]
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            layers += [ResidualBlock(c_in) for _ in range(res_blocks)]
            layers.append(weight_norm(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)))
        layers += [ResidualBlock(channels[-1]) for _ in range(res_blocks)]
        layers += [ELU(), nn.Flatten(), weight_norm(nn.Linear(channels[-1] * height * width, out_features))]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = self.image_shape[:2]
        images = x.reshape(-1, height, width, image_channels(self.image_shape)).permute(0, 3, 1, 2)
        return self.net(images * (2 / self.max_value) - 1).reshape(*x.shape[:-1], -1)


class ConvDecoderNet(nn.Module):
    """Code -> per-pixel parameters: the encoder mirrored, each stride-2 convolution replaced by nearest-neighbour
    upsampling and a 3x3 convolution (no checkerboard artefacts), and a 1x1 convolution to `per_position`
    outputs at full resolution."""

    def __init__(
        self, n_latent: int, image_shape: Sequence[int], channels: Sequence[int], res_blocks: int, per_position: int
    ):
        super().__init__()
        self.bottom = (channels[-1], *bottom_side(image_shape, channels))
        self.n_latent = n_latent
        self.project = weight_norm(nn.Linear(n_latent, math.prod(self.bottom)))
        layers: list[nn.Module] = []
        for c_in, c_out in zip(channels[::-1][:-1], channels[::-1][1:], strict=True):
            layers += [ResidualBlock(c_in) for _ in range(res_blocks)]
            layers += [NearestUpsample(), weight_norm(nn.Conv2d(c_in, c_out, 3, padding=1))]
        layers += [ResidualBlock(channels[0]) for _ in range(res_blocks)]
        layers += [ELU(), weight_norm(nn.Conv2d(channels[0], per_position, 1))]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        maps = self.project(z.reshape(-1, self.n_latent)).view(-1, *self.bottom)
        out = self.net(maps)  # (N, P, H, W)
        return out.permute(0, 2, 3, 1).reshape(*z.shape[:-1], -1)
