"""Restricted Boltzmann machine over binary visible units v (the latent code z) and hidden units h.

Energy E(v, h) = -a.v - b.h - v^T W h; free energy F(v) = -a.v - sum_j softplus(b_j + (v^T W)_j);
p(v) = exp(-F(v)) / Z. Parameters are float32; log-probabilities accumulate in float64. Training by CD/PCD is
binlatent.contrastive's, exact enumeration binlatent.enumeration's.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from binlatent.sampling import bernoulli
from binlatent.softplus import softplus


class RBM(nn.Module):
    """Binary-binary RBM with weights W (n_visible, n_hidden), visible bias a, hidden bias b."""

    def __init__(self, n_visible: int, n_hidden: int, weight_scale: float = 0.01, generator=None):
        super().__init__()
        self.W = nn.Parameter(torch.randn(n_visible, n_hidden, generator=generator) * weight_scale)
        self.a = nn.Parameter(torch.zeros(n_visible))
        self.b = nn.Parameter(torch.zeros(n_hidden))

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> RBM:
        """An RBM of the saved state's sizes with its weights."""
        rbm = cls(*state["W"].shape)
        rbm.load_state_dict(state)
        return rbm

    @property
    def n_visible(self) -> int:
        return self.W.shape[0]

    @property
    def n_hidden(self) -> int:
        return self.W.shape[1]

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) for v of shape (..., n_visible); returns shape (...)."""
        return -(v @ self.a) - softplus(v @ self.W + self.b).sum(-1)

    def hidden_probs(self, v: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(v @ self.W + self.b)

    def visible_probs(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(h @ self.W.T + self.a)

    @torch.no_grad()
    def gibbs(self, v: torch.Tensor, steps: int, generator=None) -> torch.Tensor:
        """Run `steps` sweeps of block Gibbs sampling v -> h -> v."""
        for _ in range(steps):
            h = bernoulli(self.hidden_probs(v), generator)
            v = bernoulli(self.visible_probs(h), generator)
        return v

    @torch.no_grad()
    def init_from_data_marginals(self, v: torch.Tensor) -> None:
        """Set the visible biases to the log-odds of the data marginals (Hinton's practical guide)."""
        self.a.copy_(base_rate_biases(v))


def base_rate_biases(v: torch.Tensor, smoothing: float = 0.05) -> torch.Tensor:
    """Log-odds of the smoothed marginals of binary data v (n, d): the base-rate model's biases."""
    n = v.shape[0]
    p = (v.double().sum(0) + smoothing) / (n + 2 * smoothing)
    return torch.log(p / (1 - p)).float()


def log_partition_base(base_bias: torch.Tensor, n_hidden: int) -> float:
    """log Z of the base-rate model: independent visibles with biases a0, free hidden units."""
    return float(F.softplus(base_bias.double()).sum()) + n_hidden * math.log(2.0)
