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

The network is written twice. GatedPixelCNN.forward is the plain one, convolutions on (N, C, H, W) as the equations
read; sampling runs it. Scoring and training run GatedRows (GatedPixelCNN.rows), a kernel with its own backward pass
that computes the same values (the tests hold the two together, gradients included): every convolution one matrix
product over the rows of a chunk of codes, whatever depends on the image alone computed once per image.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from binlatent.elu import elu_into
from binlatent.likelihoods import BernoulliPixels, DiscretisedLogisticMixture
from binlatent.softplus import exp_

MAPPED_CODE_ROWS = 1 << 16  # rows (image, code, pixel) of the code's maps made at once without autograd: 4 MB at 16
SCORED_OUTPUTS = 1 << 19  # the likelihood's parameters scored at once without autograd (2 MB, as networks.Decoder's)


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


def conv_matrix(conv: nn.Conv2d) -> torch.Tensor:
    """A convolution's weights (C_out, C_in, k_h, k_w) as the matrix (k_h * k_w * C_in, C_out) that multiplies its
    unfolded input, the kernel positions in row-major order, the channels within each."""
    return conv.weight.permute(2, 3, 1, 0).reshape(-1, conv.out_channels)


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

    def rows(self, images: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """forward's parameters from the fast kernel (GatedRows), laid out as the likelihood reads them: images
        (B, C, H, W) on the [-1, 1] scale and the code's maps (B, K, H*W, code_channels) in (row, column) order ->
        (B, K, H*W*per_position). The same values as forward's, to float rounding (tested)."""
        return self.kernel(images)(maps)

    def kernel(self, images: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """`rows` for these images, as a function of the maps: what depends on the images alone made once, for
        scoring them under many codes a few at a time."""
        if self.layers[0].residual:  # the kernel's first layer has no residual path: images of `channels` channels
            return lambda maps: self(images, maps.view(*maps.shape[:2], *images.shape[2:], -1).permute(
                0, 1, 4, 2, 3)).permute(0, 2, 3, 1).reshape(*maps.shape[:2], -1)  # fmt: skip
        kernel = GatedRows(self, *images.shape[2:])
        shared, linear = kernel.image_terms(self, images)
        mats = kernel.matrices(self)

        def params(maps: torch.Tensor) -> torch.Tensor:
            top, left = kernel.border_terms(self, maps) if self.border is not None else (None, None)
            inputs = (maps, shared, linear, *mats, *((top, left) if top is not None else ()))
            if torch.is_grad_enabled() and any(t.requires_grad for t in inputs):
                return _GatedRowsFunction.apply(kernel, maps, shared, linear, top, left, *mats)
            return kernel.run(mats, maps, shared, linear, top, left)

        return params

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

    def rows(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, K, n_latent) -> the maps as rows (B, K, H*W, channels), in (row, column) order."""
        return self.net(z).reshape(*z.shape[:-1], self.shape[0] * self.shape[1], self.shape[2])


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
        """The likelihood's parameters for images x (batch, D) under codes z (batch, K, n_latent): (batch, K, D*P/C),
        from the fast kernel (GatedPixelCNN.rows)."""
        return self.pixelcnn.rows(self.images(x), self.code_maps.rows(z))

    def plain_params(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """params from the plain network (GatedPixelCNN.forward), its twin."""
        batch, k = z.shape[:2]
        maps = self.code_maps(z)
        out = self.pixelcnn(self.images(x), maps.view(batch, k, *maps.shape[1:]))  # (batch*K, P, H, W)
        return out.permute(0, 2, 3, 1).reshape(batch, k, -1)

    def log_prob(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) for x (batch, D) and z (batch, K, n_latent): shape (batch, K).

        Without autograd (evaluation at large K) the codes' maps are made MAPPED_CODE_ROWS rows at a time, so that the
        maps' product is large and its output stays in cache, and the parameters SCORED_OUTPUTS at a time, so that
        they and the logistic mixture's many passes over its temporaries stay in cache too (at 64 crops' codes at
        once the mixture took twice as long as the network itself)."""
        x_ = x.unsqueeze(1)
        if torch.is_grad_enabled():
            return self.likelihood.log_prob(self.params(x, z), x_)
        params = self.pixelcnn.kernel(self.images(x))
        mapped = max(1, MAPPED_CODE_ROWS // (len(z) * self.side[0] * self.side[1]))
        scored = max(1, SCORED_OUTPUTS // (len(z) * self.likelihood.n_outputs))
        return torch.cat([self.likelihood.log_prob(params(maps), x_) for part in z.split(mapped, 1)
                          for maps in self.code_maps.rows(part).split(scored, 1)], 1)  # fmt: skip

    def floats_per_code(self) -> int:
        """Values held per code while `log_prob` scores codes without autograd, about: at each position the code's
        maps and the likelihood's parameters; the fast kernel's own work runs a fixed chunk of codes at a time
        (GatedRows). Measured within a factor of 1.5 (tests/test_evaluation_memory.py)."""
        return math.prod(self.side) * (self.pixelcnn.head.in_channels + self.likelihood.per_position)

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


# The fast kernel: the same network as GatedPixelCNN.forward (its plain twin, which the tests hold it to), computed on
# channels x rows (image, code, row, column), every channel a contiguous run. Each convolution is one matrix product of
# its unfolded input (im2col), whose zero padding is written once per buffer; the code's 1x1 convolution and the
# biases ride in the same product as extra rows of it (the maps, and ones); the first layer's image convolutions and
# the linear path are computed once per image. tanh(a) = 2 sigmoid(2a) - 1 with the factor 2 in the weights, so one
# sigmoid pass serves a stack's gate, and the gates are kept negated, -tanh(a) sigmoid(b) = s_b - 2 s_a s_b (one
# pass), the sign taken back by the weights that read them. The codes run a few at a time (CHUNK_ROWS rows), so that
# the intermediates stay in cache; under autograd the stacks' pre-activations are kept, and the backward pass
# recomputes the rest chunk by chunk.
CHUNK_ROWS = 8192  # rows (image, code, pixel) per chunk: 10 digits' codes, 8 patches'
# The passes' buffers by their sizes, kept between calls: fresh ones cost the first touch of their pages every call.
WORKSPACES: dict[tuple, dict[str, torch.Tensor]] = {}


def taps(height: int, width: int, rows: range, cols: range) -> list[tuple[slice, slice, slice, slice]]:
    """Per kernel position (row offset, column offset), in the order of the weights' (kernel row, column): the output
    window whose inputs lie inside the image, and that input window."""
    windows = []
    for di in rows:
        for dj in cols:
            i0, i1, j0, j1 = max(0, -di), height - max(0, di), max(0, -dj), width - max(0, dj)
            windows.append((slice(i0, i1), slice(j0, j1), slice(i0 + di, i1 + di), slice(j0 + dj, j1 + dj)))
    return windows


def unfold_into(columns: torch.Tensor, x: torch.Tensor, windows: list) -> None:
    """columns (>= T*C, n, H, W) <- x (C, n, H, W) at each of the T kernel positions (im2col); what a position reads
    outside the image is left as it is (zeros)."""
    c = x.shape[0]
    for t, (out_rows, out_cols, in_rows, in_cols) in enumerate(windows):
        columns[t * c : (t + 1) * c, :, out_rows, out_cols] = x[:, :, in_rows, in_cols]


def fold_into(x: torch.Tensor, columns: torch.Tensor, windows: list, centre: int, accumulate: bool = False) -> None:
    """x (C, n, H, W) <- (+= with accumulate) the sum over the kernel positions of the gradients at the columns
    (>= T*C, n, H, W) where they read x: unfold_into's adjoint (col2im). `centre` is the position (0, 0)."""
    c = x.shape[0]
    x.add_(columns[centre * c : (centre + 1) * c]) if accumulate else x.copy_(columns[centre * c : (centre + 1) * c])
    for t, (out_rows, out_cols, in_rows, in_cols) in enumerate(windows):
        if t != centre:
            x[:, :, in_rows, in_cols] += columns[t * c : (t + 1) * c, :, out_rows, out_cols]


def negated_gate_into(out: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """out <- s_b - 2 s_a s_b = -tanh(a) sigmoid(b) for s = sigmoid([2a, b]) (2c, rows)."""
    c = out.shape[0]
    return torch.addcmul(s[c:], s[:c], s[c:], value=-2, out=out)


def negated_gate_backward_into(out: torch.Tensor, s: torch.Tensor, gate: torch.Tensor, grad: torch.Tensor,
                               work: torch.Tensor) -> None:  # fmt: skip
    """out (2c, rows) <- the gradient at the pre-activations [2a, b] of gate = -tanh(a) sigmoid(b), given its
    gradient grad (c, rows), s = sigmoid([2a, b]) and the gate; work is (c, rows) scratch."""
    c = grad.shape[0]
    sa, sb, ga, gb = s[:c], s[c:], out[:c], out[c:]
    torch.mul(grad, sb, out=work)
    torch.addcmul(sa, sa, sa, value=-1, out=ga)  # s_a (1 - s_a)
    torch.addcmul(ga.new_zeros(()), work, ga, value=-2, out=ga)  # -g s_b 2 s_a (1 - s_a)
    torch.mul(grad, gate, out=work)
    torch.addcmul(work, work, sb, value=-1, out=gb)  # g gate (1 - s_b)


def gate_scale(c: int, like: torch.Tensor) -> torch.Tensor:
    """(2c, 1): 2 on a gate's tanh half, 1 on its sigmoid half."""
    return torch.cat([torch.full((c, 1), 2.0), torch.ones(c, 1)]).to(like)


class GatedRows:
    """A GatedPixelCNN's matrices laid out for the rows, and its forward and backward passes over the rows of B
    images' K codes, chunk by chunk (see the comment above CHUNK_ROWS). Per row, with s the code's maps, 2 on the tanh
    halves of the pre-activations and g = -gate(.) the negated gates:
        layer 1:      v_pre = first_v @ s + shared_v,  h_pre = first_h @ s + shared_h
                      (shared: the image's convolutions, the vertical-to-horizontal map of them and every bias)
        later layers: v_pre = vertical @ [unfold(g_v), s, 1],  h_pre = horizontal @ [unfold(h), s, 1] + v_to_h @ v_pre
        every layer:  g_v = -gate(v_pre),  h' = h + out @ -gate(h_pre) + bias_out  (no h in the first)
        parameters:   (head @ elu(h) + linear) as rows (rows, P), as the likelihood reads them
                      (linear: the image's linear path and the head's bias)
    With a border, the strips it adds to layer 1's pre-activations and to the parameters at the top rows and the left
    columns (border_terms) are added there."""

    def __init__(self, net: GatedPixelCNN, height: int, width: int):
        first = net.layers[0]
        self.layers, self.height, self.width = len(net.layers), height, width
        self.c, self.per_position = first.out.out_channels, net.head.out_channels
        self.code_channels = first.code.in_channels
        self.r, kernel = first.vertical.kernel_size[0] - 1, first.vertical.kernel_size[1]
        self.vertical_taps = taps(height, width, range(-self.r, 1), range(-self.r, kernel - self.r))
        self.horizontal_taps = taps(height, width, range(0, 1), range(-self.r, 1))
        self.centres = (len(self.vertical_taps) - 1 - self.r, len(self.horizontal_taps) - 1)  # offset (0, 0)
        self.top_rows, self.left_cols = min(self.r + 1, height), min(self.r + 1, width)  # what the border reaches
        c2 = 2 * self.c  # the border's strips' channels: top [v (2c), h (2c), parameters], left [h (2c), parameters]
        self.strips = {"v": (slice(0, c2), None), "h": (slice(c2, 2 * c2), slice(0, c2)),
                       "out": (slice(2 * c2, None), slice(c2, None))}  # fmt: skip

    # ---- what the passes read, made from the modules (differentiable: autograd takes their gradients on) ----

    @staticmethod
    def matrices(net: GatedPixelCNN) -> list[torch.Tensor]:
        """[first_v, first_h, out, bias_out] of layer 1, [vertical, horizontal, v_to_h, out, bias_out] of each later
        layer, and head; the matrices multiply the columns from the left."""
        c = net.layers[0].out.out_channels
        scale = gate_scale(c, net.head.weight)
        mats = []
        for i, layer in enumerate(net.layers):
            code = layer.code.weight[:, :, 0, 0]  # (4c, code_channels)
            v_to_h = layer.vertical_to_horizontal.weight[:, :, 0, 0]  # (2c, 2c)
            if i == 0:
                mats += [code[: 2 * c] * scale, (code[2 * c :] + v_to_h @ code[: 2 * c]) * scale]
            else:
                bias_v = layer.vertical.bias + layer.code.bias[: 2 * c]
                bias_h = layer.horizontal.bias + layer.code.bias[2 * c :] + layer.vertical_to_horizontal.bias
                mats += [torch.cat([-conv_matrix(layer.vertical).T, code[: 2 * c], bias_v[:, None]], 1) * scale,
                         torch.cat([conv_matrix(layer.horizontal).T, code[2 * c :], bias_h[:, None]], 1) * scale,
                         v_to_h * scale / scale.T]  # fmt: skip
            mats += [-layer.out.weight[:, :, 0, 0], layer.out.bias[:, None]]
        return [*mats, net.head.weight[:, :, 0, 0]]

    @staticmethod
    def image_terms(net: GatedPixelCNN, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What depends on the image alone: layer 1's pre-activations without the code's maps [v, h] (4c, B, H*W)
        and the linear path with the head's bias (B, H*W, P), for images (B, C, H, W) without a border."""
        first, c = net.layers[0], net.layers[0].out.out_channels
        v, h = down_shift(images), right_shift(images)
        v_pre = first.vertical(v) + first.code.bias[: 2 * c, None, None]
        h_pre = first.horizontal(h) + first.code.bias[2 * c :, None, None] + first.vertical_to_horizontal(v_pre)
        shared = torch.cat([v_pre, h_pre], 1) * gate_scale(c, images).repeat(2, 1)[:, :, None]
        linear = net.linear_vertical(v) + net.linear_horizontal(h) + net.head.bias[:, None, None]
        return shared.flatten(2).transpose(0, 1).contiguous(), linear.flatten(2).transpose(1, 2).contiguous()

    def border_terms(self, net: GatedPixelCNN, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """With a border, what it adds per code (linear in its colours), for maps (B, K, H*W, code_channels): at the
        top r+1 rows from the row above the image (B, K, r+1, W, 4c + P), at the left r+1 columns from the column
        left of it (B, K, H, r+1, 2c + P) (fewer where the image has fewer); the channels as in self.strips."""
        first, c, r = net.layers[0], self.c, self.r
        batch, k = maps.shape[:2]
        scale = gate_scale(c, maps)[:, :, None]
        grid = maps.reshape(batch * k, self.height, self.width, -1)
        weight, bias = net.border.weight[:, :, 0, 0], net.border.bias
        row = torch.tanh(grid[:, 0] @ weight.T + bias)  # (B*K, W, C): the row above the image
        col = torch.tanh(grid[:, :, 0] @ weight.T + bias)  # (B*K, H, C): the column left of it
        top = F.pad(row.transpose(1, 2).unsqueeze(2), (r, r, r, r))  # (B*K, C, 2r+1, W+2r): r zero rows below it
        left = F.pad(col.transpose(1, 2).unsqueeze(3), (r, r))  # (B*K, C, H, 2r+1): r zero columns right of it
        v_pre = F.conv2d(top, first.vertical.weight)  # (B*K, 2c, r+1, W)
        h_from_v = F.conv2d(v_pre, first.vertical_to_horizontal.weight)
        top_out = torch.cat([v_pre * scale, h_from_v * scale, F.conv2d(top, net.linear_vertical.weight)], 1)
        left_out = torch.cat([F.conv2d(left, first.horizontal.weight) * scale,
                              F.conv2d(left, net.linear_horizontal.weight)], 1)  # fmt: skip
        top_out, left_out = top_out[:, :, : self.top_rows], left_out[..., : self.left_cols]
        return (top_out.permute(0, 2, 3, 1).reshape(batch, k, self.top_rows, self.width, -1),
                left_out.permute(0, 2, 3, 1).reshape(batch, k, self.height, self.left_cols, -1))  # fmt: skip

    # ---- the passes ----

    def chunks(self, batch: int, k: int) -> list[tuple[slice, slice]]:
        """(images, codes) of each chunk of about CHUNK_ROWS rows: a few codes of one image, or every code of a few
        images; each chunk's rows are contiguous in (image, code) order."""
        per = max(1, CHUNK_ROWS // (self.height * self.width))  # codes per chunk
        if k >= per:
            return [(slice(b, b + 1), slice(j, min(k, j + per))) for b in range(batch) for j in range(0, k, per)]
        n = max(1, per // k)
        return [(slice(b, min(batch, b + n)), slice(0, k)) for b in range(0, batch, n)]

    def workspace(self, chunks: list[tuple[slice, slice]], like: torch.Tensor, backward: bool) -> dict:
        """Buffers for the largest of the chunks, the unfolded inputs' padding and ones written once; per layer
        where the backward pass recomputes the forward. Kept for the next pass of the same sizes (WORKSPACES)."""
        codes = max((b.stop - b.start) * (j.stop - j.start) for b, j in chunks)
        c, m, layers = self.c, self.code_channels, self.layers if backward else 1
        key = (codes, self.height, self.width, len(self.vertical_taps), c, m, layers, self.per_position, backward,
               like.dtype, like.device)  # fmt: skip
        if key not in WORKSPACES:
            if len(WORKSPACES) >= 4:
                WORKSPACES.pop(next(iter(WORKSPACES)))
            WORKSPACES[key] = self.new_workspace(codes, like, backward)
        return WORKSPACES[key]

    def new_workspace(self, codes: int, like: torch.Tensor, backward: bool) -> dict:
        c, m, layers = self.c, self.code_channels, self.layers if backward else 1
        rows, new, grid = codes * self.height * self.width, like.new_empty, (codes, self.height, self.width)
        ws = {"vcols": like.new_zeros(len(self.vertical_taps) * c + m + 1, *grid),
              "hcols": like.new_zeros(len(self.horizontal_taps) * c + m + 1, *grid),
              "pre": new(2, 2 * c, rows), "sig": new(layers, 2, 2 * c, rows), "gv": new(layers, c, rows),
              "gh": new(layers, c, rows), "h": new(layers, c, rows), "e": new(c, rows)}  # fmt: skip
        ws["vcols"][-1] = 1
        ws["hcols"][-1] = 1
        if backward:
            ws |= {"g_h": new(c, rows), "g_gate": new(c, rows), "g_gv": new(c, rows), "work": new(c, rows),
                   "g_pre": new(2, 2 * c, rows), "g_vcols": new(ws["vcols"].shape[0], rows),
                   "g_hcols": new(ws["hcols"].shape[0], rows), "g_s": new(m, rows)}  # fmt: skip
        return ws

    def layer_mats(self, mats: list[torch.Tensor], i: int) -> list[torch.Tensor]:
        """Layer i's matrices (see `matrices`)."""
        return mats[:4] if i == 0 else mats[4 + 5 * (i - 1) : 4 + 5 * i]

    def kept(self, pres: torch.Tensor, i: int, b: slice, j: slice, k: int) -> torch.Tensor:
        """Layer i's kept pre-activations [v, h] (2, 2c, rows) of the chunk (b, j), each chunk's stored whole."""
        hw = self.height * self.width
        start, stop = (b.start * k + j.start) * hw, ((b.stop - 1) * k + j.stop) * hw
        return pres[i, :, 2 * self.c * start : 2 * self.c * stop].view(2, 2 * self.c, -1)

    def run(self, mats, maps, shared, linear, top=None, left=None, pres: torch.Tensor | None = None) -> torch.Tensor:
        """The likelihood's parameters (B, K, H*W*P) for maps (B, K, H*W, code_channels), the image terms and the
        border's (or None); each layer's pre-activations written into pres (layers, 2, 2c * B*K*H*W) where given."""
        batch, k, hw = *maps.shape[:2], self.height * self.width
        chunks = self.chunks(batch, k)
        ws = self.workspace(chunks, maps, False)
        out = maps.new_empty(batch, k, hw, self.per_position)
        for b, j in chunks:
            rows = (b.stop - b.start) * (j.stop - j.start) * hw
            kept = [self.kept(pres, i, b, j, k) if pres is not None else ws["pre"][..., :rows]
                    for i in range(self.layers)]  # fmt: skip
            border = (top[b, j], left[b, j]) if top is not None else None
            self.forward_chunk(ws, mats, maps[b, j], shared[:, b], linear[b], border, kept, out[b, j])
        return out.view(batch, k, -1)

    def load_maps(self, ws: dict, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The chunk's maps (nb, nk, H*W, m) into the unfolded inputs' rows for them; the columns' buffers for the
        chunk's n codes and the maps as (m, rows)."""
        nb, nk, hw, m = maps.shape
        n, taps_v = nb * nk, len(self.vertical_taps) * self.c
        vcols, hcols = ws["vcols"][:, :n], ws["hcols"][:, :n]
        vcols[taps_v : taps_v + m] = maps.reshape(n, self.height, self.width, m).permute(3, 0, 1, 2)
        hcols[-m - 1 : -1] = vcols[taps_v : taps_v + m]
        return vcols, hcols, vcols[taps_v : taps_v + m].view(m, -1)

    def forward_chunk(self, ws, mats, maps, shared, linear, border, pres, out) -> None:
        """One chunk's forward pass: maps (nb, nk, H*W, m), shared (4c, nb, H*W), linear (nb, H*W, P), the border's
        strips (nb, nk, ...) or None, pres each (2, 2c, rows) [v, h]; out (nb, nk, H*W, P) is written."""
        nb, nk, hw, _ = maps.shape
        c, rows = self.c, nb * nk * hw
        vcols, hcols, s = self.load_maps(ws, maps)
        sig, gv, gh, h = (ws[key][0, ..., :rows] for key in ("sig", "gv", "gh", "h"))
        grid, e = (c, nb * nk, self.height, self.width), ws["e"][:, :rows]
        for i in range(self.layers):
            (v_pre, h_pre), layer = pres[i], self.layer_mats(mats, i)
            if i == 0:
                for pre, first, own in ((v_pre, layer[0], shared[: 2 * c]), (h_pre, layer[1], shared[2 * c :])):
                    torch.mm(first, s, out=pre).view(2 * c, nb, nk, hw).add_(own.unsqueeze(2))
                if border is not None:
                    self.add_border(v_pre, border, "v", nb)
                    self.add_border(h_pre, border, "h", nb)
            else:
                vertical, horizontal, v_to_h = layer[:3]
                unfold_into(vcols, gv.view(grid), self.vertical_taps)
                unfold_into(hcols, h.view(grid), self.horizontal_taps)
                torch.mm(vertical, vcols.view(vcols.shape[0], -1), out=v_pre)
                torch.mm(horizontal, hcols.view(hcols.shape[0], -1), out=h_pre).addmm_(v_to_h, v_pre)
            if i < self.layers - 1:  # the last layer's vertical gate reaches nothing
                negated_gate_into(gv, torch.sigmoid(v_pre, out=sig[0]))
            negated_gate_into(gh, torch.sigmoid(h_pre, out=sig[1]))
            if i == 0:
                torch.addmm(layer[-1], layer[-2], gh, out=h)
            else:
                h.addmm_(layer[-2], gh).add_(layer[-1])
        torch.mm(elu_into(e, h).T, mats[-1].T, out=out.view(rows, -1))
        out += linear.unsqueeze(1)
        if border is not None:
            self.add_border(out.view(rows, -1), border, "out", nb)

    def grid(self, x: torch.Tensor, part: str, nb: int) -> torch.Tensor:
        """A chunk's parameters (rows, P) or pre-activations (2c, rows) as (nb, nk, H, W, channels)."""
        if part == "out":
            return x.view(nb, -1, self.height, self.width, x.shape[-1])
        return x.view(x.shape[0], nb, -1, self.height, self.width).permute(1, 2, 3, 4, 0)

    def add_border(self, x: torch.Tensor, border: tuple[torch.Tensor, torch.Tensor], part: str, nb: int) -> None:
        """x, a chunk of nb images' `part` (v, h: pre-activations; out: parameters), += the border's strips' channels
        for it: the top strip at the top r+1 rows, the left one at the left r+1 columns."""
        grid, top_channels, left_channels = self.grid(x, part, nb), *self.strips[part]
        grid[:, :, : self.top_rows] += border[0][..., top_channels]
        if left_channels is not None:
            grid[:, :, :, : self.left_cols] += border[1][..., left_channels]

    def take_border(self, g_border: tuple[torch.Tensor, torch.Tensor], grad: torch.Tensor, part: str, nb: int) -> None:
        """The strips' gradients at `part`'s channels, from its gradient grad: add_border's adjoint."""
        grid, top_channels, left_channels = self.grid(grad, part, nb), *self.strips[part]
        g_border[0][..., top_channels] = grid[:, :, : self.top_rows]
        if left_channels is not None:
            g_border[1][..., left_channels] = grid[:, :, :, : self.left_cols]

    def backward(self, grad_out, mats, maps, pres, border: bool):
        """The gradients, from run's output's (B, K, H*W*P), at maps, the image terms, the border's strips (None
        without one) and the matrices, chunk by chunk from the pre-activations `run` kept."""
        batch, k, hw = *maps.shape[:2], self.height * self.width
        c, p = self.c, self.per_position
        chunks = self.chunks(batch, k)
        ws = self.workspace(chunks, maps, True)
        g_maps, g_mats = torch.empty_like(maps), [torch.zeros_like(m) for m in mats]
        g_shared, g_linear = maps.new_zeros(4 * c, batch, hw), maps.new_zeros(batch, hw, p)
        g_top = maps.new_empty(batch, k, self.top_rows, self.width, 4 * c + p) if border else None
        g_left = maps.new_empty(batch, k, self.height, self.left_cols, 2 * c + p) if border else None
        grad_out = grad_out.reshape(batch, k, hw, p)
        for b, j in chunks:
            kept = [self.kept(pres, i, b, j, k) for i in range(self.layers)]
            g_border = (g_top[b, j], g_left[b, j]) if border else None
            self.backward_chunk(ws, mats, g_mats, maps[b, j], kept, grad_out[b, j], g_maps[b, j], g_shared[:, b],
                                g_linear[b], g_border)  # fmt: skip
        return g_maps, g_shared, g_linear, g_top, g_left, g_mats

    def backward_chunk(self, ws, mats, g_mats, maps, pres, grad_out, g_maps, g_shared, g_linear, g_border) -> None:
        """One chunk's backward pass: the forward recomputed from the kept pre-activations, then the gradients
        accumulated into g_mats, g_shared and g_linear, and written into g_maps and the strips' gradients."""
        nb, nk, hw, m = maps.shape
        c, rows, layers = self.c, nb * nk * hw, self.layers
        vcols, hcols, s = self.load_maps(ws, maps)
        grid, centre_v, centre_h = (c, nb * nk, self.height, self.width), *self.centres
        sig, gv, gh, h = (ws[key][..., :rows] for key in ("sig", "gv", "gh", "h"))
        g_h, g_gate, g_gv, work, e = (ws[key][:, :rows] for key in ("g_h", "g_gate", "g_gv", "work", "e"))
        g_v_pre, g_h_pre = ws["g_pre"][..., :rows]
        g_vcols, g_hcols, g_s = ws["g_vcols"][:, :rows], ws["g_hcols"][:, :rows], ws["g_s"][:, :rows]
        for i in range(layers):  # the gates and the horizontal stack again, from the kept pre-activations
            layer = self.layer_mats(mats, i)
            if i < layers - 1:
                negated_gate_into(gv[i], torch.sigmoid(pres[i][0], out=sig[i, 0]))
            negated_gate_into(gh[i], torch.sigmoid(pres[i][1], out=sig[i, 1]))
            torch.addmm(h[i - 1] if i else layer[-1], layer[-2], gh[i], out=h[i])
            if i:
                h[i] += layer[-1]
        g = grad_out.reshape(rows, -1)  # (rows, P)
        if g_border is not None:
            self.take_border(g_border, g, "out", nb)
        g_mats[-1].addmm_(g.T, elu_into(e, h[-1]).T)
        g_linear += grad_out.sum(1)
        torch.mm(mats[-1].T, g.T, out=g_h).mul_(exp_(torch.clamp(h[-1], max=0, out=work)))  # elu' = exp(min(h, 0))
        for i in reversed(range(layers)):
            layer, g_layer = self.layer_mats(mats, i), self.layer_mats(g_mats, i)
            g_layer[-2].addmm_(g_h, gh[i].T)
            g_layer[-1] += g_h.sum(1, keepdim=True)
            torch.mm(layer[-2].T, g_h, out=g_gate)
            negated_gate_backward_into(g_h_pre, sig[i, 1], gh[i], g_gate, work)
            if i < layers - 1:
                negated_gate_backward_into(g_v_pre, sig[i, 0], gv[i], g_gv, work)
            else:
                g_v_pre.zero_()
            if i == 0:
                g_layer[0].addmm_(g_v_pre, s.T)
                g_layer[1].addmm_(g_h_pre, s.T)
                g_s.zero_() if layers == 1 else None
                g_s.addmm_(layer[0].T, g_v_pre).addmm_(layer[1].T, g_h_pre)
                g_shared[: 2 * c] += g_v_pre.view(2 * c, nb, nk, hw).sum(2)
                g_shared[2 * c :] += g_h_pre.view(2 * c, nb, nk, hw).sum(2)
                if g_border is not None:
                    self.take_border(g_border, g_v_pre, "v", nb)
                    self.take_border(g_border, g_h_pre, "h", nb)
                break
            vertical, horizontal, v_to_h = layer[:3]
            unfold_into(hcols, h[i - 1].view(grid), self.horizontal_taps)
            g_layer[1].addmm_(g_h_pre, hcols.view(hcols.shape[0], -1).T)
            g_layer[2].addmm_(g_h_pre, pres[i][0].T)
            g_v_pre.addmm_(v_to_h.T, g_h_pre)
            unfold_into(vcols, gv[i - 1].view(grid), self.vertical_taps)
            g_layer[0].addmm_(g_v_pre, vcols.view(vcols.shape[0], -1).T)
            torch.mm(vertical.T, g_v_pre, out=g_vcols)
            torch.mm(horizontal.T, g_h_pre, out=g_hcols)
            if i == layers - 1:
                torch.add(g_vcols[-m - 1 : -1], g_hcols[-m - 1 : -1], out=g_s)
            else:
                g_s.add_(g_vcols[-m - 1 : -1]).add_(g_hcols[-m - 1 : -1])
            fold_into(g_gv.view(grid), g_vcols.view(-1, *grid[1:]), self.vertical_taps, centre_v)
            fold_into(g_h.view(grid), g_hcols.view(-1, *grid[1:]), self.horizontal_taps, centre_h, accumulate=True)
        g_maps.view(rows, m).copy_(g_s.T)


class KeptPreActivations:
    """The buffer of pre-activations that the last backward pass released, for the next forward pass of its shape:
    a fresh one costs the first touch of its pages every step (at the digits' fine-tuning batch, 300 MB and a
    seventh of the step)."""

    free: torch.Tensor | None = None

    @classmethod
    def take(cls, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        kept, cls.free = cls.free, None
        if kept is not None and kept.shape == shape and kept.dtype == like.dtype and kept.device == like.device:
            return kept
        return like.new_empty(shape)


class _GatedRowsFunction(torch.autograd.Function):
    """GatedRows.run with its backward pass (GatedRows.backward), keeping each layer's pre-activations."""

    @staticmethod
    def forward(ctx, kernel: GatedRows, maps, shared, linear, top, left, *mats):
        pres = KeptPreActivations.take((kernel.layers, 2, 2 * kernel.c * maps[..., 0].numel()), maps)
        out = kernel.run(mats, maps, shared, linear, top, left, pres)
        ctx.kernel, ctx.border, ctx.released = kernel, top is not None, False
        ctx.save_for_backward(maps, pres, *mats)
        return out

    @staticmethod
    def backward(ctx, grad):
        if ctx.released:
            raise RuntimeError(
                "the PixelCNN's fast kernel goes back through a graph once: its kept pre-activations "
                "are reused by the next forward pass (backward with retain_graph is not supported)"
            )
        maps, pres, *mats = ctx.saved_tensors
        g_maps, g_shared, g_linear, g_top, g_left, g_mats = ctx.kernel.backward(grad, mats, maps, pres, ctx.border)
        ctx.released, KeptPreActivations.free = True, pres
        return None, g_maps, g_shared, g_linear, g_top, g_left, *g_mats
