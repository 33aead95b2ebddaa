"""The prior of a model without a code (prior none): over the empty code, with probability one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from binlatent.priors.base import Codes, NormalisedPrior


class NoCodePrior(NormalisedPrior):
    """p(z) = 1 for the one, empty, code: the model is its decoder alone, p(x) = p(x | z)."""

    kind = "none"

    def unnormalised_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return z.new_zeros(z.shape[:-1])

    def sample(
        self,
        n: int,
        gibbs_steps: int = 0,
        generator=None,
        codes: Codes | None = None,
        ais: Mapping[str, Any] | None = None,
    ) -> torch.Tensor:
        device = generator.device if generator is not None else None
        return torch.zeros((n, 0), device=device)
