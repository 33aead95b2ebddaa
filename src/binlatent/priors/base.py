"""The interface every prior over the code z implements.

p(z) = p*(z) / Z. Every prior gives
- `unnormalised_log_prob(z)`: log p*(z), shape (...); and `importance_log_prob(z)`, the form the model's
  importance weights use: log p*(z) itself, or for a prior with layers above z (a deep RBM prior) an unbiased
  importance estimate of it from one sample of those layers, with that sample's log q;
- `sample(n, gibbs_steps, generator, codes, ais)`: n codes (an RBM's chains start as `chain_starts` says);
- its part of the training signal: the weighted positive phase flows through `unnormalised_log_prob`
  in the bound; `negative_phase(chains, ...)` returns a surrogate whose gradient is -grad log Z, from
  persistent chains (`start_chains`); normalised priors have neither (zero, no chains);
- `log_z(codes, how, ...)`: log Z with its uncertainty as a `LogZ`; the choice between exact enumeration and AIS is
  made in `log_z.rbm_log_z` alone;
- `base_data(codes)`: what AIS's (and RAISE's) base-rate model is fitted to, from codes of training images;
- `conservative_log_ratio(top, ...)`: for a prior with an RBM, RAISE's unbiased estimate of p_ann/p* at the top
  RBM's units of an importance sample (p_ann: the prior whose top RBM is replaced by its annealing model);
- `init_from_codes(code_means)` and `load_pretrained(layers)`: its start from the stage-one codes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from binlatent.priors.log_z import LogZ, LogZSettings

Codes = Callable[[], torch.Tensor]  # codes of training images, computed only when a prior needs them


class Prior(nn.Module):
    """The interface every prior over the code implements (see the module docstring)."""

    kind: ClassVar[str]
    normalised: ClassVar[bool]  # Z = 1: no negative phase, no log Z to estimate
    own_step: ClassVar[bool] = False  # trains at fine-tuning's prior_lr instead of the networks' step

    def unnormalised_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sample(
        self,
        n: int,
        gibbs_steps: int = 0,
        generator=None,
        codes: Codes | None = None,
        ais: Mapping[str, Any] | None = None,
    ) -> torch.Tensor:
        """n codes; a prior with an RBM runs `gibbs_steps` sweeps from `chain_starts(..., base data of codes, ais)`."""
        raise NotImplementedError

    def importance_log_prob(
        self, z: torch.Tensor, generator=None
    ) -> tuple[torch.Tensor | float, torch.Tensor | float, torch.Tensor]:
        """(log of an unbiased estimate of p*(z), log q of the auxiliary sample it drew, the units of that sample
        the top RBM sees): here log p*(z) itself, no sample (0), and z."""
        return self.unnormalised_log_prob(z), 0.0, z

    def conservative_log_ratio(
        self, top: torch.Tensor, base_data: torch.Tensor, schedule: Sequence[Sequence[float]], generator=None
    ) -> torch.Tensor:
        """Per row of `top` (the top RBM's units of an importance sample), the log of RAISE's unbiased estimate of
        p_ann(top) / p*_top(top): what turns the sample's weight under the model into one under the model whose top
        RBM is its annealing model; float64. `base_data`: the `base_data` of the training codes, computed once by
        the caller for every batch."""
        raise NotImplementedError(f"a {self.kind} prior has no RBM to anneal")

    def start_chains(self, n_chains: int, generator=None) -> torch.Tensor | None:
        """Persistent chains for the negative phase; None for a normalised prior."""
        return None

    def negative_phase(
        self, chains: torch.Tensor | None, gibbs_steps: int, generator=None
    ) -> tuple[torch.Tensor | float, torch.Tensor | None]:
        """(surrogate whose gradient is -grad log Z, advanced chains); zero for a normalised prior."""
        return 0.0, chains

    def log_z(self, codes: Codes, how: LogZSettings, generator=None) -> LogZ:
        """log Z with its band; AIS's base-rate model is fitted to the base data of `codes()` (called only when
        needed)."""
        return LogZ.normalised()

    def base_data(self, codes: torch.Tensor, generator=None) -> torch.Tensor:
        """The data AIS's and RAISE's base-rate model is fitted to, from codes of training images: the codes
        themselves here."""
        return codes

    def init_from_codes(self, code_means: torch.Tensor) -> None:
        """Start from the codes E_q[z] of the training images (the stage-one encoder's, when pretrained)."""

    def load_pretrained(self, layers: Sequence[Mapping[str, Any]]) -> None:
        """Start from the stage-two checkpoints of its layers, bottom first."""
        raise ValueError(f"a {self.kind} prior has no pretraining stage of its own")


class NormalisedPrior(Prior):
    """A prior with Z = 1 and no hidden layers: no negative phase, no log Z to estimate."""

    normalised = True

    def __init__(self, n_latent: int, n_hidden: Sequence[int] = ()):
        super().__init__()
        if n_hidden:
            raise ValueError(f"a {self.kind} prior has no hidden layers; got {list(n_hidden)}")
        self.n_latent = n_latent
