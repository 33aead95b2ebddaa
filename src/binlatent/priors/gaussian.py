"""The standard Gaussian prior p(z) = N(0, I) of continuous latents (the IWAE baseline): normalised."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from binlatent.likelihoods import gaussian_log_prob
from binlatent.priors.base import Codes, NormalisedPrior


class GaussianPrior(NormalisedPrior):
    """p(z) = N(0, I): normalised."""

    kind = "gaussian"

    def unnormalised_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))

    @torch.no_grad()
    def sample(
        self,
        n: int,
        gibbs_steps: int = 0,
        generator=None,
        codes: Codes | None = None,
        ais: Mapping[str, Any] | None = None,
    ) -> torch.Tensor:
        device = generator.device if generator is not None else None
        return torch.randn((n, self.n_latent), generator=generator, device=device)
