"""An autoregressive decoder p(x|z): a gated PixelCNN (van den Oord et al., NeurIPS 2016) conditioned on the code.

    p(x|z) = prod_i p(x_i | x_<i, z),  pixels in raster order (row by row, left to right)

Two stacks of gated layers see the image without a blind spot: the vertical stack reads only the rows above a
pixel, the horizontal stack the pixels to its left on its row and the vertical stack's features at its position.
The masking is done by the kernels' shapes and a one-pixel shift of the input, which is a masked convolution
without its zero weights. Each gated layer adds a per-pixel map of the code z (PixelVAE, Gulrajani et al. 2017;
VLAE, Chen et al. 2017): the feature maps of the decoder network the config would build without autoregression.
The number of layers bounds the receptive field to a few rows above and pixels beside a pixel, so what is global
in an image has to pass through z. Beside the gated stacks a linear causal path (one vertical and one horizontal
convolution of the shifted image, as the first layer reads it) adds straight onto the likelihood's parameters: the
linear prediction from neighbouring pixels that lossless image codecs start from, which the gated layers then refine;
it depends on the image alone, so it is computed once for all K codes of an image. Within a pixel the colour
channels are autoregressive through the likelihood: the discretised logistic mixture's linear coupling (red ->
green -> blue), as in PixelCNN++; binary images get one Bernoulli per pixel.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from binlatent.likelihoods import BernoulliPixels, DiscretisedLogisticMixture


def down_shift(x: torch.Tensor) -> torch.Tensor:
    """Row r of (N, C, H, W) takes row r - 1; the top row is zeros."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


def right_shift(x: torch.Tensor) -> torch.Tensor:
    """Column c of (N, C, H, W) takes column c - 1; the left column is zeros."""
    return F.pad(x, (1, 0))[..., :-1]


class PaddedConv2d(nn.Conv2d):
    """A convolution that zero-pads its input by (left, right, top, bottom) first, so that its window can end at
    the output's own row or column."""

    def __init__(self, c_in: int, c_out: int, kernel: tuple[int, int], pad: tuple[int, int, int, int]):
        super().__init__(c_in, c_out, kernel)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pad))


def vertical_conv(c_in: int, c_out: int, kernel: int) -> PaddedConv2d:
    """(kernel//2 + 1) x kernel window over the rows up to and including the output's row, centred on its column."""
    r = kernel // 2
    return PaddedConv2d(c_in, c_out, (r + 1, kernel), (r, r, r, 0))


def horizontal_conv(c_in: int, c_out: int, kernel: int) -> PaddedConv2d:
    """1 x (kernel//2 + 1) window over the output's row, up to and including its column."""
    r = kernel // 2
    return PaddedConv2d(c_in, c_out, (1, r + 1), (r, 0, 0, 0))


def gate(pre: torch.Tensor) -> torch.Tensor:
    """tanh(a) * sigmoid(b) for pre = [a, b] along the channels."""
    a, b = pre.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


def add_per_code(features: torch.Tensor, conditioning: torch.Tensor) -> torch.Tensor:
    """features (B or B*K, c, H, W) plus conditioning (B, K, c, H, W), one row per (image, code): (B*K, c, H, W).

    Features of the image alone (B rows) broadcast over its K codes, so the image is never copied K times."""
    batch = conditioning.shape[0]
    return (features.view(batch, -1, *features.shape[1:]) + conditioning).flatten(0, 1)


class GatedLayer(nn.Module):
    """One gated layer of both stacks, each conditioned on the code's map:
    v' = gate(V * v + A_v s),  h' = h + W gate(H * h + U (V * v + A_v s) + A_h s), s the code's map."""

    def __init__(self, c_in: int, channels: int, kernel: int, code_channels: int):
        super().__init__()
        self.vertical = vertical_conv(c_in, 2 * channels, kernel)
        self.horizontal = horizontal_conv(c_in, 2 * channels, kernel)
        self.vertical_to_horizontal = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.code = nn.Conv2d(code_channels, 4 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        self.residual = c_in == channels

    def forward(self, v: torch.Tensor, h: torch.Tensor, code_maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """v, h: (B or B*K, c_in, H, W); code_maps (B, K, code_channels, H, W); returns (B*K, channels, H, W) each."""
        batch, k = code_maps.shape[:2]
        code_v, code_h = self.code(code_maps.flatten(0, 1)).view(batch, k, -1, *code_maps.shape[3:]).chunk(2, dim=2)
        v_pre = add_per_code(self.vertical(v), code_v)
        h_pre = add_per_code(self.horizontal(h), code_h) + self.vertical_to_horizontal(v_pre)
        h_out = self.out(gate(h_pre))
        return gate(v_pre), add_per_code(h, h_out.view(batch, k, *h_out.shape[1:])) if self.residual else h_out


class GatedPixelCNN(nn.Module):
    """Images (B, C, H, W) on the [-1, 1] scale and code maps (B, K, code_channels, H, W) -> likelihood parameters
    (B*K, per_position, H, W) whose value at a pixel depends on the image only through the pixels before it.

    With `border`, the row above the image and the column left of it, which the stacks read as zeros otherwise,
    are colours predicted from the code's maps of the first row and column: the first pixels then have neighbours
    to follow that the code sets, so that a draw starts from the code's colours rather than wherever the first
    pixel's wide distribution puts it. The stacks' first layer and the linear path then run once per code."""

    def __init__(
        self,
        image_channels: int,
        layers: int,
        channels: int,
        kernel: int,
        code_channels: int,
        out: int,
        border: bool = False,
    ):
        super().__init__()
        self.border = nn.Conv2d(code_channels, image_channels, 1) if border else None
        sizes = [image_channels] + [channels] * layers
        self.layers = nn.ModuleList(GatedLayer(c_in, channels, kernel, code_channels) for c_in in sizes[:-1])
        self.head = nn.Conv2d(channels, out, 1)
        self.linear_vertical = vertical_conv(image_channels, out, kernel)  # the linear causal path
        self.linear_horizontal = horizontal_conv(image_channels, out, kernel)
        self.reach = layers * (kernel // 2) + 1  # rows above, and columns either side, that a pixel's output reads

    def forward(self, images: torch.Tensor, code_maps: torch.Tensor) -> torch.Tensor:
        v, h = down_shift(images), right_shift(images)
        if self.border is not None:
            v, h = self.bordered(v, h, code_maps)
        linear = self.linear_vertical(v) + self.linear_horizontal(h)  # (B, out, H, W) without a border
        for layer in self.layers:
            v, h = layer(v, h, code_maps)
        out = self.head(F.elu(h))
        return add_per_code(linear, out.view(*code_maps.shape[:2], *out.shape[1:]))

    def bordered(self, v: torch.Tensor, h: torch.Tensor, code_maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The shifted images (B, C, H, W) per code (B*K, C, H, W), the row shifted in at the top and the column
        shifted in at the left taken from the border's colours of the code's maps there (in [-1, 1])."""
        k = code_maps.shape[1]
        edge = torch.tanh(self.border(code_maps.flatten(0, 1)))  # (B*K, C, H, W)
        v, h = v.repeat_interleave(k, 0), h.repeat_interleave(k, 0)
        return torch.cat([edge[:, :, :1], v[:, :, 1:]], 2), torch.cat([edge[..., :1], h[..., 1:]], 3)

    def window(self, row: int, col: int, width: int) -> tuple[slice, slice]:
        """The rows and columns of the image that pixel (row, col)'s output reads, within an image `width` wide."""
        return slice(max(0, row - self.reach), row + 1), slice(max(0, col - self.reach), min(width, col + self.reach))


class CodeMaps(nn.Module):
    """z (..., n_latent) -> per-pixel maps (N, channels, H, W) of the code, from a decoder network whose outputs
    (..., H*W*channels) are in (height, width, channel) order, as the library's decoder networks write them."""

    def __init__(self, net: nn.Module, channels: int, side: tuple[int, int]):
        super().__init__()
        self.net, self.shape = net, (*side, channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).reshape(-1, *self.shape).permute(0, 3, 1, 2)


class AutoregressiveDecoder(nn.Module):
    """p(x|z) = prod_i p(x_i | x_<i, z) with the Decoder's interface: log_prob(x, z) and mean(z)."""

    shows = "one draw x ~ p(x | z) per code"  # what `mean` returns, in the words of the figures' captions

    def __init__(
        self,
        code_maps: CodeMaps,
        pixelcnn: GatedPixelCNN,
        likelihood: BernoulliPixels | DiscretisedLogisticMixture,
        pixel: BernoulliPixels | DiscretisedLogisticMixture,
        image_shape: tuple[int, ...],
        max_value: float,
    ):
        super().__init__()
        self.code_maps, self.pixelcnn = code_maps, pixelcnn
        self.likelihood, self.pixel = likelihood, pixel  # over the whole image, and over one pixel (for sampling)
        self.side = tuple(image_shape[:2])
        self.channels = image_shape[2] if len(image_shape) == 3 else 1
        self.max_value = max_value

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """Flat images (..., D) in (height, width, channel) order -> (N, C, H, W) on the [-1, 1] scale."""
        return x.reshape(-1, *self.side, self.channels).permute(0, 3, 1, 2) * (2 / self.max_value) - 1

    def params(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The likelihood's parameters for images x (batch, D) under codes z (batch, K, n_latent): (batch, K, D*P/C)."""
        batch, k = z.shape[:2]
        maps = self.code_maps(z)
        out = self.pixelcnn(self.images(x), maps.view(batch, k, *maps.shape[1:]))  # (batch*K, P, H, W)
        return out.permute(0, 2, 3, 1).reshape(batch, k, -1)

    def log_prob(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) for x (batch, D) and z (batch, K, n_latent): shape (batch, K)."""
        return self.likelihood.log_prob(self.params(x, z), x.unsqueeze(1))

    def floats_per_code(self) -> int:
        """Values held per code while `log_prob` scores codes without autograd, about: at each position, a dozen maps
        of the PixelCNN's channels (a gated layer's stacks, gates and the code's conditioning) and five of the
        likelihood's parameters (the parameters and the likelihood's work on them). Measured within a factor of 1.3
        (tests/test_evaluation_memory.py)."""
        return math.prod(self.side) * (12 * self.pixelcnn.head.in_channels + 5 * self.likelihood.per_position)

    @torch.no_grad()
    def sample(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x ~ p(x|z) for codes z (n, n_latent), pixel by pixel in raster order, batched over the n codes: values as
        the data stage stores them, (n, D). Each step runs the network on the few rows and columns it reads."""
        height, width = self.side
        maps = self.code_maps(z).unsqueeze(1)  # (n, 1, code_channels, H, W)
        canvas = torch.zeros(len(z), self.channels, height, width, device=z.device)  # on the [-1, 1] scale
        for row in range(height):
            for col in range(width):
                rows, cols = self.pixelcnn.window(row, col, width)
                out = self.pixelcnn(canvas[:, :, rows, cols], maps[..., rows, cols])  # (n, P, rows, cols)
                params = out[:, :, row - rows.start, col - cols.start]  # (n, P)
                canvas[:, :, row, col] = self.pixel.sample(params, generator) * (2 / self.max_value) - 1
        return ((canvas + 1) * (self.max_value / 2)).round().permute(0, 2, 3, 1).reshape(len(z), -1)

    def mean(self, z: torch.Tensor) -> torch.Tensor:
        """A draw x ~ p(x|z) as intensities in [0, 1], (n, D): an autoregressive decoder's E[x|z] has no closed form,
        so the model's samples and reconstructions show one ancestral sample per code."""
        return self.sample(z) / self.max_value
