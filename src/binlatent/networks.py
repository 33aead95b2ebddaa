"""The networks of the model: encoder q(z|x) and decoder p(x|z), and the image format they are built for.

The networks are MLPs (digits) or residual convolutional networks (colour images), chosen by
network['kind']; the decoder mirrors the encoder, or conditions a gated PixelCNN on the code (network['decoder']
'autoregressive', see pixelcnn.py); the decoder's likelihood follows the data: Bernoulli for binary images, a
discretised logistic mixture for 8-bit ones. Binary codes use a Bernoulli encoder; continuous
codes (the importance-weighted autoencoder of Burda et al. 2016) a Gaussian one with the same networks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from binlatent.convnets import ConvDecoderNet, ConvEncoderNet, image_channels
from binlatent.elu import ELU
from binlatent.image import ImageFormat
from binlatent.likelihoods import BernoulliPixels, DiscretisedLogisticMixture, bernoulli_log_prob, gaussian_log_prob
from binlatent.pixelcnn import AutoregressiveDecoder, CodeMaps, GatedPixelCNN
from binlatent.sampling import bernoulli

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": ELU}
# Decoder outputs scored at once without autograd: 2 MB of float32, within a core's L2 cache. At 4,000 codes of a
# digit (12.5 MB) the Bernoulli log-likelihood took as long as the decoder network itself; in pieces of 668, a third.
CACHED_OUTPUTS = 1 << 19


def mlp(sizes: Sequence[int], activation: str) -> nn.Sequential:
    """Affine layers of the given sizes with `activation` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class Rescale(nn.Module):
    """Multiply by a constant (8-bit values to [0, 1] before an MLP)."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


class Encoder(nn.Module):
    """q(z|x): factorised Bernoulli over the code, logits from a network (batch, D) -> (batch, n_latent)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def sample(self, x: torch.Tensor, k: int, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """K codes per image and their log q(z|x): shapes (batch, K, n_latent) and (batch, K)."""
        logits = self(x).unsqueeze(1)  # (batch, 1, n_latent)
        z = bernoulli(torch.sigmoid(logits.detach()).expand(-1, k, -1), generator)  # (batch, K, n_latent)
        return z, bernoulli_log_prob(logits, z)

    def code(self, x: torch.Tensor) -> torch.Tensor:
        """The most probable code [q(z_i = 1|x) > 1/2], shape (batch, n_latent)."""
        return (self(x) > 0).float()

    def code_mean(self, x: torch.Tensor) -> torch.Tensor:
        """E_q[z] = q(z_i = 1|x), shape (batch, n_latent)."""
        return torch.sigmoid(self(x))


class GaussianEncoder(nn.Module):
    """q(z|x): diagonal Gaussian, mean and log standard deviation from a network with 2 n_latent outputs;
    samples are reparameterised."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(x).chunk(2, dim=-1)
        return mean, log_std

    def sample(self, x: torch.Tensor, k: int, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """K reparameterised codes per image and their log q(z|x): (batch, K, n_latent), (batch, K)."""
        mean, log_std = (t.unsqueeze(1) for t in self(x))  # (batch, 1, n_latent)
        noise = torch.randn((mean.shape[0], k, mean.shape[2]), generator=generator, device=mean.device)
        z = mean + log_std.exp() * noise
        return z, gaussian_log_prob(z, mean, log_std)

    def code(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean, shape (batch, n_latent)."""
        return self(x)[0]

    def code_mean(self, x: torch.Tensor) -> torch.Tensor:
        """E_q[z], the posterior mean, shape (batch, n_latent)."""
        return self(x)[0]


class LearnedConstant(nn.Module):
    """The decoder network of a model without a code: `size` learned outputs, the same for every (empty) code."""

    def __init__(self, size: int):
        super().__init__()
        self.value = nn.Parameter(torch.zeros(size))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.value.expand(*z.shape[:-1], -1)


class NoCode(nn.Module):
    """q(z|x) of a model without a code (prior none): the empty code, with probability one."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(len(x), 0)

    def sample(self, x: torch.Tensor, k: int, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """K empty codes per image and their log q = 0: shapes (batch, K, 0) and (batch, K)."""
        return x.new_zeros(len(x), k, 0), x.new_zeros(len(x), k)

    code = code_mean = forward


class Decoder(nn.Module):
    """p(x|z): the likelihood's parameters from a network (..., n_latent) -> (..., n_outputs)."""

    shows = "E[x | z]"  # what `mean` returns, in the words of the figures' captions

    def __init__(self, net: nn.Module, likelihood: BernoulliPixels | DiscretisedLogisticMixture):
        super().__init__()
        self.net, self.likelihood = net, likelihood

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    def log_prob(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) for x (batch, D) and z (batch, K, n_latent): shape (batch, K).

        Without autograd (evaluation at large K) the codes are decoded a few hundred at a time, CACHED_OUTPUTS
        outputs or fewer, so that the likelihood's passes over the outputs stay in cache."""
        x = x.unsqueeze(1)
        if torch.is_grad_enabled():
            return self.likelihood.log_prob(self(z), x)
        codes = max(1, CACHED_OUTPUTS // (len(z) * self.likelihood.n_outputs))
        return torch.cat([self.likelihood.log_prob(self(part), x) for part in z.split(codes, 1)], 1)

    def mean(self, z: torch.Tensor) -> torch.Tensor:
        """E[x|z] as intensities in [0, 1], shape (..., D)."""
        return self.likelihood.mean(self(z))

    def floats_per_code(self) -> int:
        """Values held per code while `log_prob` scores many codes without autograd: one log p(x|z), and its copy
        in the result; the outputs are decoded in pieces of CACHED_OUTPUTS, whatever the number of codes."""
        return 2


def likelihood_for(image: ImageFormat, network: Mapping[str, Any]) -> BernoulliPixels | DiscretisedLogisticMixture:
    """Bernoulli for binary images, a discretised logistic mixture of network['mixture'] components for 8-bit."""
    if image.pixels == "binary":
        return BernoulliPixels(image.shape)
    return DiscretisedLogisticMixture(image.shape, network["mixture"])


def autoregressive_decoder(
    net: nn.Module,
    image: ImageFormat,
    network: Mapping[str, Any],
    likelihood: BernoulliPixels | DiscretisedLogisticMixture,
) -> AutoregressiveDecoder:
    """A gated PixelCNN of network['pixelcnn'] (layers, channels, kernel) conditioned on the maps `net` makes of z."""
    settings, side = network["pixelcnn"], image.shape[:2]
    channels = image_channels(image.shape)
    pixelcnn = GatedPixelCNN(
        channels,
        settings["layers"],
        settings["channels"],
        settings["kernel"],
        settings["channels"],
        likelihood.per_position,
        settings["border"],
    )
    pixel = likelihood_for(ImageFormat((1, 1, channels) if len(image.shape) == 3 else (1, 1), image.pixels), network)
    return AutoregressiveDecoder(CodeMaps(net, settings["channels"], side), pixelcnn, likelihood, pixel, image.shape,
                                 image.max_value)  # fmt: skip


def code_networks(
    image: ImageFormat, network: Mapping[str, Any], n_code: int, per_position: int
) -> tuple[nn.Module, nn.Module]:
    """The encoder's network (images -> n_code outputs) and the decoder's (z -> per_position outputs per pixel
    position): MLPs, or residual convolutional networks (network['kind'] conv), the decoder's mirroring the
    encoder's."""
    n_latent = network["n_latent"]
    if network["kind"] == "conv":
        channels, blocks = network["channels"], network["res_blocks"]
        encoder_net = ConvEncoderNet(image.shape, channels, blocks, n_code, image.max_value)
        return encoder_net, ConvDecoderNet(n_latent, image.shape, channels, blocks, per_position)
    hidden, activation = list(network["hidden"]), network["activation"]
    encoder_net = mlp([image.n_pixels, *hidden, n_code], activation)
    if image.pixels == "8bit":
        encoder_net = nn.Sequential(Rescale(1 / image.max_value), encoder_net)
    n_positions = math.prod(image.shape[:2])
    return encoder_net, mlp([n_latent, *hidden[::-1], n_positions * per_position], activation)


def build_networks(
    image: ImageFormat, network: Mapping[str, Any], gaussian: bool = False
) -> tuple[Encoder | GaussianEncoder, Decoder | AutoregressiveDecoder]:
    """Encoder (Bernoulli, or Gaussian for continuous latents; none for network['n_latent'] 0, a model without a
    code) and decoder from config['network']: the encoder's network mirrored (network['decoder'] 'mirrored', pixels
    independent given z), or that network's per-pixel maps of z conditioning a gated PixelCNN ('autoregressive')."""
    likelihood = likelihood_for(image, network)
    autoregressive = network["decoder"] == "autoregressive"
    per_position = network["pixelcnn"]["channels"] if autoregressive else likelihood.per_position
    n_latent = network["n_latent"]
    if not n_latent:  # no code: the decoder alone, its inputs from the code learned constants
        encoder, decoder_net = NoCode(), LearnedConstant(math.prod(image.shape[:2]) * per_position)
    else:
        encoder_net, decoder_net = code_networks(image, network, 2 * n_latent if gaussian else n_latent, per_position)
        encoder = GaussianEncoder(encoder_net) if gaussian else Encoder(encoder_net)
    if autoregressive:
        return encoder, autoregressive_decoder(decoder_net, image, network, likelihood)
    return encoder, Decoder(decoder_net, likelihood)
