"""Priors over the code z, behind one interface: the RBM prior, the factorised Bernoulli and the Gaussian.

p(z) = p*(z) / Z. Every prior gives
- `unnormalised_log_prob(z)`: log p*(z), shape (...); and `importance_log_prob(z)`, the form the model's
  importance weights use: log p*(z) itself, or for a prior with layers above z (the deep prior) an unbiased
  importance estimate of it from one sample of those layers, with that sample's log q;
- `sample(n, gibbs_steps, generator, base_codes, ais)`: n codes (an RBM's chains start as `chain_starts` says);
- its part of the training signal: the weighted positive phase flows through `unnormalised_log_prob`
  in the bound; `negative_phase(chains, ...)` returns a surrogate whose gradient is -grad log Z, from
  persistent chains (`start_chains`); normalised priors have neither (zero, no chains);
- `log_z(base_codes, how, ...)`: log Z with its uncertainty as a `LogZ`; the choice between exact
  enumeration and AIS is made in `rbm_log_z` alone;
- `conservative_log_ratio(top, ...)`: for a prior with an RBM, RAISE's unbiased estimate of p_ann/p* at the top
  RBM's units of an importance sample (p_ann: the prior whose top RBM is replaced by its annealing model);
- `init_from_codes(code_means)` and `load_pretrained(layers)`: its start from the stage-one codes;
A prior is rebuilt from its kind and sizes, `models.PRIORS[kind](n_latent=..., ...)`: a new prior is one new class
registered there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from binlatent.ais import AISResult, ais_log_z, ais_samples, raise_log_prob
from binlatent.ais_diagnostics import AISCheck, checked_ais_log_z
from binlatent.estimators import pcd_negative_phase
from binlatent.likelihoods import bernoulli_log_prob, gaussian_log_prob
from binlatent.rbm import EPOCH_ENUMERATION_UNITS, MAX_ENUMERATION_UNITS, RBM, bernoulli, exact_log_z

log = logging.getLogger("binlatent")


@dataclass(frozen=True)
class LogZ:
    """log Z of a prior: `value` is the estimate used, [low, high] its band (forward AIS's +/-3 sigma band,
    which leaves out AIS's bias from a short schedule; a point when exact or normalised). `method` is
    'ais', 'exact' or 'normalised'; `exact` is the enumerated value where it was computed beside AIS; `check` is
    AIS's reliability check (ESS, half-schedule run, flag) where it was run."""

    value: float
    low: float
    high: float
    method: str
    exact: float | None = None
    ais: AISResult | None = field(default=None, repr=False)  # the runs' weights and traces
    check: AISCheck | None = None

    @classmethod
    def normalised(cls) -> LogZ:
        return cls(0.0, 0.0, 0.0, "normalised")

    @property
    def interval(self) -> tuple[float, float]:
        """The band widened on each side by the half-schedule difference |d| where checked: [low - |d|, high + |d|],
        since AIS's shortfall is about that difference (see binlatent.ais_diagnostics)."""
        spread = abs(self.check.difference) if self.check is not None else 0.0
        return self.low - spread, self.high + spread


@dataclass(frozen=True)
class LogZSettings:
    """How a log Z is obtained: `ais` ({runs, schedule}) when annealing, enumeration when the RBM's smaller layer
    has at most `exact_up_to` units, AIS run even then when `anneal_always`, `n_trace` traced betas, and AIS
    checked by an independent run at half the temperatures when `check`."""

    ais: Mapping[str, Any]
    exact_up_to: int = EPOCH_ENUMERATION_UNITS
    anneal_always: bool = False
    n_trace: int = 1
    check: bool = False

    @classmethod
    def per_epoch(cls, ais: Mapping[str, Any]) -> LogZSettings:
        """A validation score's: exact when small (2^20 states at most, every epoch), else AIS alone."""
        return cls(ais)

    @classmethod
    def evaluation(cls, ais: Mapping[str, Any], exact_up_to: int = MAX_ENUMERATION_UNITS) -> LogZSettings:
        """A test figure's: AIS with its traces and its reliability check always, the exact value beside it where
        small."""
        return cls(ais, exact_up_to, anneal_always=True, n_trace=200, check=True)


def enumerable(rbm: RBM, up_to: int) -> bool:
    """Whether log Z is enumerated: the RBM's smaller layer has at most `up_to` units (never past
    MAX_ENUMERATION_UNITS)."""
    return min(rbm.n_visible, rbm.n_hidden) <= min(up_to, MAX_ENUMERATION_UNITS)


def rbm_log_z(rbm: RBM, base_codes: torch.Tensor, how: LogZSettings, generator=None) -> LogZ:
    """The one decision between exact enumeration and AIS for an RBM's log Z.

    Exact when the smaller layer has at most `how.exact_up_to` units, else forward AIS with `how.ais`'s
    schedule and runs from the base-rate model fitted to `base_codes`. With `how.anneal_always` (evaluation)
    AIS runs in any case and is the value used, the exact figure standing beside it as a check. With `how.check`,
    AIS is checked by an independent run at half the temperatures (binlatent.ais_diagnostics).
    """
    exact = exact_log_z(rbm) if enumerable(rbm, how.exact_up_to) else None
    if exact is not None and not how.anneal_always:
        return LogZ(exact, exact, exact, "exact", exact=exact)
    ais, check = how.ais, None
    if how.check:
        result, check = checked_ais_log_z(rbm, base_codes, ais["schedule"], ais["runs"], how.n_trace, generator)
    else:
        result = ais_log_z(rbm, base_codes, ais["schedule"], ais["runs"], n_trace=how.n_trace, generator=generator)
    return LogZ(result.log_z, result.log_z_low, result.log_z_high, "ais", exact=exact, ais=result, check=check)


def chain_starts(
    rbm: RBM,
    n: int,
    base_data: Callable[[], torch.Tensor] | None = None,
    ais: Mapping[str, Any] | None = None,
    generator=None,
) -> torch.Tensor:
    """Where n sampling chains of `rbm` start: uniformly random states; or, with `ais` ({'runs_per_sample',
    'schedule'}), AIS runs from the base-rate model fitted to `base_data()` drawn in proportion to their weights
    (`ais.ais_samples`), which reach a peaked RBM's modes about as often as its law does."""
    if not ais:
        return bernoulli(torch.full((n, rbm.n_visible), 0.5, device=rbm.W.device), generator)
    runs = n * int(ais["runs_per_sample"])
    states, ess = ais_samples(rbm, base_data(), ais["schedule"], n, runs, generator)
    log.info("sampling chains start from %d AIS runs drawn by weight (effective sample size %.1f)", runs, ess)
    return states


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
        base_codes: Callable[[], torch.Tensor] | None = None,
        ais: Mapping[str, Any] | None = None,
    ) -> torch.Tensor:
        """n codes; a prior with an RBM runs `gibbs_steps` sweeps from `chain_starts(..., base_codes, ais)`."""
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
        RBM is its annealing model; float64. `base_data`: `annealing_data` of the training codes, computed once by
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

    def log_z(self, base_codes: Callable[[], torch.Tensor], how: LogZSettings, generator=None) -> LogZ:
        """log Z with its band; `base_codes()` (called only when needed) gives the codes AIS's base model fits."""
        return LogZ.normalised()

    def annealing_data(self, codes: torch.Tensor, generator=None) -> torch.Tensor:
        """The data AIS's and RAISE's base-rate model is fitted to, from codes of training images: the codes
        themselves here; the top RBM's units for a deep prior."""
        return codes

    def init_from_codes(self, code_means: torch.Tensor) -> None:
        """Start from the codes E_q[z] of the training images (the stage-one encoder's, when pretrained)."""

    def load_pretrained(self, layers: Sequence[Mapping[str, Any]]) -> None:
        """Start from the stage-two checkpoints of its layers, bottom first."""
        raise ValueError(f"a {self.kind} prior has no pretraining stage of its own")


class RBMPrior(Prior):
    """p(z) = exp(-F(z)) / Z with an RBM over (z, h); log Z is estimated apart (AIS or exact), never in training."""

    kind = "rbm"
    normalised = False
    own_step = True

    def __init__(self, n_latent: int, n_hidden: int):
        super().__init__()
        self.rbm = RBM(n_latent, n_hidden)

    def unnormalised_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return -self.rbm.free_energy(z)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        gibbs_steps: int = 0,
        generator=None,
        base_codes: Callable[[], torch.Tensor] | None = None,
        ais: Mapping[str, Any] | None = None,
    ) -> torch.Tensor:
        return self.rbm.gibbs(chain_starts(self.rbm, n, base_codes, ais, generator), gibbs_steps, generator)

    def start_chains(self, n_chains: int, generator=None) -> torch.Tensor:
        """Persistent chains: one Gibbs sweep from all-zero codes."""
        return self.rbm.gibbs(torch.zeros(n_chains, self.rbm.n_visible, device=self.rbm.W.device), 1, generator)

    def negative_phase(
        self, chains: torch.Tensor | None, gibbs_steps: int, generator=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return pcd_negative_phase(self.rbm, chains, gibbs_steps, generator)

    def log_z(self, base_codes: Callable[[], torch.Tensor], how: LogZSettings, generator=None) -> LogZ:
        return rbm_log_z(self.rbm, base_codes(), how, generator)

    def conservative_log_ratio(
        self, top: torch.Tensor, base_data: torch.Tensor, schedule: Sequence[Sequence[float]], generator=None
    ) -> torch.Tensor:
        return raise_log_prob(self.rbm, top, base_data, schedule, generator) + self.rbm.free_energy(top).double()

    def init_from_codes(self, code_means: torch.Tensor) -> None:
        """Nothing here: the RBM is fitted to the stage-one codes by its own stage (pretrain_prior) and put in
        by `load_pretrained`; a spec without that stage starts from the RBM's initial weights."""

    def load_pretrained(self, layers: Sequence[Mapping[str, Any]]) -> None:
        (layer,) = layers
        self.rbm.load_state_dict(layer["rbm"])


class FactorisedPrior(Prior):
    """p(z) = prod_i Bernoulli(z_i; sigmoid(logit_i)): normalised."""

    kind = "factorised"
    normalised = True

    def __init__(self, n_latent: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_latent))

    def unnormalised_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return bernoulli_log_prob(self.logits, z)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        gibbs_steps: int = 0,
        generator=None,
        base_codes: Callable[[], torch.Tensor] | None = None,
        ais: Mapping[str, Any] | None = None,
    ) -> torch.Tensor:
        return bernoulli(torch.sigmoid(self.logits.detach()).expand(n, -1), generator)

    @torch.no_grad()
    def init_from_codes(self, code_means: torch.Tensor) -> None:
        """The code marginals of the training images, clamped to [0.001, 0.999]."""
        p = code_means.mean(0).clamp(1e-3, 1 - 1e-3)
        self.logits.copy_(torch.log(p / (1 - p)))


class GaussianPrior(Prior):
    """p(z) = N(0, I): normalised."""

    kind = "gaussian"
    normalised = True

    def __init__(self, n_latent: int):
        super().__init__()
        self.n_latent = n_latent

    def unnormalised_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))

    @torch.no_grad()
    def sample(
        self,
        n: int,
        gibbs_steps: int = 0,
        generator=None,
        base_codes: Callable[[], torch.Tensor] | None = None,
        ais: Mapping[str, Any] | None = None,
    ) -> torch.Tensor:
        device = generator.device if generator is not None else None
        return torch.randn((n, self.n_latent), generator=generator, device=device)
