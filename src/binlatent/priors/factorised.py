"""The factorised Bernoulli prior p(z) = prod_i Bernoulli(z_i; sigmoid(logit_i)): normalised."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from binlatent.likelihoods import bernoulli_log_prob
from binlatent.priors.base import Codes, NormalisedPrior
from binlatent.sampling import bernoulli


class FactorisedPrior(NormalisedPrior):
    """p(z) = prod_i Bernoulli(z_i; sigmoid(logit_i)): normalised."""

    kind = "factorised"

    def __init__(self, n_latent: int, n_hidden: Sequence[int] = ()):
        super().__init__(n_latent, n_hidden)
        self.logits = nn.Parameter(torch.zeros(n_latent))

    def unnormalised_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return bernoulli_log_prob(self.logits, z)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        gibbs_steps: int = 0,
        generator=None,
        codes: Codes | None = None,
        ais: Mapping[str, Any] | None = None,
    ) -> torch.Tensor:
        return bernoulli(torch.sigmoid(self.logits.detach()).expand(n, -1), generator)

    @torch.no_grad()
    def init_from_codes(self, code_means: torch.Tensor) -> None:
        """The code marginals of the training images, clamped to [0.001, 0.999]."""
        p = code_means.mean(0).clamp(1e-3, 1 - 1e-3)
        self.logits.copy_(torch.log(p / (1 - p)))
