"""AIS that reports its own reliability: the effective sample size of its weights, and a second, independent run
at half the temperatures.

AIS's +/-3 sigma band measures the spread of the weights only. With a short schedule the weights are heavy-tailed:
the runs that would carry the mean are rarely drawn, so the estimate falls short of log Z (stochastically, by Jensen)
while the band, from the same few weights, stays narrow, and the truth lies above it. Two symptoms show this:
- the effective sample size (sum w)^2 / sum w^2 falls to a few runs (below MIN_ESS_FRACTION of them, the standard
  error read off the weights is itself unreliable);
- a run with half the temperatures, whose shortfall is larger, falls below the full one by more than the noise of
  the difference, 3 sqrt(se_full^2 + se_half^2) in log space (one-sided, as the shortfall is: a half run above the
  full one is noise, and a heavy-tailed one shows in the ESS).
Either raises the flag. AIS's shortfall shrinks about in proportion to the number of temperatures, so the full
run's is about the half-schedule difference: `LogZ.interval` widens the band by |difference| on each side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from binlatent.ais import AISResult, ais_log_z
from binlatent.rbm import RBM

MIN_ESS_FRACTION = 0.1  # flag when the effective sample size is below this fraction of the runs
N_SIGMA = 3.0  # the half-schedule difference is flagged beyond this many standard errors of itself


@dataclass(frozen=True)
class AISCheck:
    """The reliability of one AIS estimate: its ESS, an independent run at half the temperatures, and why it is
    flagged (no reasons: reliable)."""

    ess: float  # effective sample size of the full run's weights
    n_runs: int
    half_log_z: float  # log Z from the independent run at half the temperatures
    difference: float  # full run's log Z minus the half run's
    difference_band: float  # N_SIGMA standard errors of the difference
    reasons: tuple[str, ...] = ()

    @property
    def reliable(self) -> bool:
        return not self.reasons

    @property
    def summary(self) -> str:
        """'reliable', or the reasons for the flag."""
        return "; ".join(self.reasons) or "reliable"


def halved_schedule(schedule: Sequence[Sequence[float]]) -> list[list[float]]:
    """The schedule with every segment's count of temperatures halved (at least one)."""
    return [[end, max(1, int(count) // 2)] for end, count in schedule]


def assess(full: AISResult, half: AISResult) -> AISCheck:
    """Compare a full AIS run with an independent one at half the temperatures; flag it as described above."""
    n_runs = len(full.log_weights)
    difference = full.log_z - half.log_z
    band = N_SIGMA * math.hypot(full.log_se, half.log_se)
    reasons = []
    if difference > band:
        reasons.append(f"the half-schedule run is {difference:.3f} nats below, beyond {band:.3f} (3σ)")
    if full.ess < MIN_ESS_FRACTION * n_runs:
        reasons.append(f"effective sample size {full.ess:.1f} of {n_runs} runs, below {MIN_ESS_FRACTION:.0%}")
    return AISCheck(full.ess, n_runs, half.log_z, difference, band, tuple(reasons))


def checked_ais_log_z(
    rbm: RBM,
    data: torch.Tensor,
    schedule: Sequence[Sequence[float]],
    n_runs: int = 100,
    n_trace: int = 200,
    generator=None,
) -> tuple[AISResult, AISCheck]:
    """Forward AIS (`ais_log_z`) and its check against a second, independent run at half the temperatures."""
    full = ais_log_z(rbm, data, schedule, n_runs, n_trace, generator)
    half = ais_log_z(rbm, data, halved_schedule(schedule), n_runs, 1, generator)
    return full, assess(full, half)
