"""log Z of a prior with its uncertainty, and the one decision between exact enumeration and AIS for an RBM's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from binlatent.ais import AISResult, ais_log_z
from binlatent.ais_diagnostics import AISCheck, checked_ais_log_z
from binlatent.enumeration import EPOCH_ENUMERATION_UNITS, MAX_ENUMERATION_UNITS, exact_log_z
from binlatent.rbm import RBM
from binlatent.stats import Band


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
    def band(self) -> Band:
        """The value with its interval: the band widened on each side by the half-schedule difference |d| where
        checked, [low - |d|, high + |d|], since AIS's shortfall is about that difference (binlatent.ais_diagnostics)."""
        spread = abs(self.check.difference) if self.check is not None else 0.0
        return Band(self.value, self.low - spread, self.high + spread)


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


def rbm_log_z(rbm: RBM, base_data: torch.Tensor, how: LogZSettings, generator=None) -> LogZ:
    """The one decision between exact enumeration and AIS for an RBM's log Z.

    Exact when the smaller layer has at most `how.exact_up_to` units, else forward AIS with `how.ais`'s
    schedule and runs from the base-rate model fitted to `base_data`. With `how.anneal_always` (evaluation)
    AIS runs in any case and is the value used, the exact figure standing beside it as a check. With `how.check`,
    AIS is checked by an independent run at half the temperatures (binlatent.ais_diagnostics).
    """
    exact = exact_log_z(rbm) if enumerable(rbm, how.exact_up_to) else None
    if exact is not None and not how.anneal_always:
        return LogZ(exact, exact, exact, "exact", exact=exact)
    ais, check = how.ais, None
    if how.check:
        result, check = checked_ais_log_z(rbm, base_data, ais["schedule"], ais["runs"], how.n_trace, generator)
    else:
        result = ais_log_z(rbm, base_data, ais["schedule"], ais["runs"], n_trace=how.n_trace, generator=generator)
    return LogZ(result.log_z, result.log_z_low, result.log_z_high, "ais", exact=exact, ais=result, check=check)
