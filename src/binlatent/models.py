"""The hybrid model's parts: MLP encoder q(z|x), MLP decoder p(x|z), and the priors over z."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from binlatent.rbm import RBM, bernoulli

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}


def mlp(sizes: Sequence[int], activation: str) -> nn.Sequential:
    """Affine layers of the given sizes with `activation` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def bernoulli_log_prob(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """sum_d log Bernoulli(x_d; sigmoid(logits_d)) over the last axis."""
    logits, x = torch.broadcast_tensors(logits, x)
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


class Encoder(nn.Module):
    """q(z|x): factorised Bernoulli over the code, logits from an MLP."""

    def __init__(self, n_pixels: int, hidden: Sequence[int], n_latent: int, activation: str):
        super().__init__()
        self.net = mlp([n_pixels, *hidden, n_latent], activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def sample(self, x: torch.Tensor, k: int, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """K codes per image and their log q(z|x): shapes (batch, K, n_latent) and (batch, K)."""
        logits = self(x).unsqueeze(1)  # (batch, 1, n_latent)
        z = bernoulli(torch.sigmoid(logits.detach()).expand(-1, k, -1), generator)  # (batch, K, n_latent)
        return z, bernoulli_log_prob(logits, z)


class Decoder(nn.Module):
    """p(x|z): factorised Bernoulli over pixels, logits from an MLP."""

    def __init__(self, n_latent: int, hidden: Sequence[int], n_pixels: int, activation: str):
        super().__init__()
        self.net = mlp([n_latent, *hidden, n_pixels], activation)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    def log_prob(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) for x (batch, D) and z (batch, K, n_latent): shape (batch, K)."""
        return bernoulli_log_prob(self(z), x.unsqueeze(1))


class RBMPrior(nn.Module):
    """p(z) = exp(-F(z)) / Z with an RBM; log Z is estimated separately (AIS), never in training."""

    kind = "rbm"

    def __init__(self, rbm: RBM):
        super().__init__()
        self.rbm = rbm

    def unnormalised_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return -self.rbm.free_energy(z)

    @torch.no_grad()
    def sample(self, n: int, gibbs_steps: int, generator=None) -> torch.Tensor:
        start = torch.full((n, self.rbm.n_visible), 0.5, device=self.rbm.W.device)
        return self.rbm.gibbs(bernoulli(start, generator), gibbs_steps, generator)


class FactorisedPrior(nn.Module):
    """p(z) = prod_i Bernoulli(z_i; sigmoid(logit_i)): normalised, log Z = 0."""

    kind = "factorised"

    def __init__(self, n_latent: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_latent))

    def unnormalised_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return bernoulli_log_prob(self.logits, z)

    @torch.no_grad()
    def sample(self, n: int, gibbs_steps: int = 0, generator=None) -> torch.Tensor:
        return bernoulli(torch.sigmoid(self.logits.detach()).expand(n, -1), generator)


class HybridModel(nn.Module):
    """Encoder, decoder and a prior over binary codes."""

    def __init__(self, encoder: Encoder, decoder: Decoder, prior: RBMPrior | FactorisedPrior):
        super().__init__()
        self.encoder, self.decoder, self.prior = encoder, decoder, prior

    def log_weights(self, x: torch.Tensor, k: int, generator=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """log w_k = log p(x|z_k) + log p*(z_k) - log q(z_k|x), z_k ~ q(.|x); also z and log q.

        Shapes: (batch, K), (batch, K, n_latent), (batch, K). log p* is unnormalised for the RBM.
        """
        z, log_q = self.encoder.sample(x, k, generator)
        log_w = self.decoder.log_prob(x, z) + self.prior.unnormalised_log_prob(z) - log_q
        return log_w, z, log_q


def build_networks(n_pixels: int, network: dict) -> tuple[Encoder, Decoder]:
    """Encoder and mirrored decoder from the config's `network` section."""
    hidden = list(network["hidden"])
    encoder = Encoder(n_pixels, hidden, network["n_latent"], network["activation"])
    decoder = Decoder(network["n_latent"], hidden[::-1], n_pixels, network["activation"])
    return encoder, decoder
