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
- the estimate falls below -F(v) of a state v that is known, a binary code of the data AIS's base model fits
  (log Z = log sum_v exp(-F(v)) is at least that of any one state): the runs have missed a mode which a data point
  sits in. A peaked prior whose runs rarely reach its heaviest states can pass both checks above and fail this one.
Any of these raises the flag. AIS's shortfall shrinks about in proportion to the number of temperatures, so the full
run's is about the half-schedule difference: `LogZ.band` widens the band by |difference| on each side.
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
    known_state_bound: float = -math.inf  # the largest -F(v) of a known state: log Z is at least this
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


def assess(full: AISResult, half: AISResult, known_state_bound: float = -math.inf) -> AISCheck:
    """Compare a full AIS run with an independent one at half the temperatures, and with the largest -F(v) of a
    known state; flag it as described above."""
    n_runs = len(full.log_weights)
    difference = full.log_z - half.log_z
    band = N_SIGMA * math.hypot(full.log_se, half.log_se)
    reasons = []
    if difference > band:
        reasons.append(f"the half-schedule run is {difference:.3f} nats below, beyond {band:.3f} (3σ)")
    if full.ess < MIN_ESS_FRACTION * n_runs:
        reasons.append(f"effective sample size {full.ess:.1f} of {n_runs} runs, below {MIN_ESS_FRACTION:.0%}")
    if full.log_z < known_state_bound:
        reasons.append(f"log Z {full.log_z:.3f} is below -F(v) = {known_state_bound:.3f} of a data code v")
    return AISCheck(full.ess, n_runs, half.log_z, difference, band, known_state_bound, tuple(reasons))


@torch.no_grad()
def known_state_bound(rbm: RBM, data: torch.Tensor) -> float:
    """max_v -F(v) over the binary states of `data` (thresholded at 1/2): a lower bound on log Z."""
    states = (data > 0.5).to(device=rbm.W.device, dtype=rbm.W.dtype)
    return float((-rbm.free_energy(states)).max())


def checked_ais_log_z(
    rbm: RBM,
    data: torch.Tensor,
    schedule: Sequence[Sequence[float]],
    n_runs: int = 100,
    n_trace: int = 200,
    generator=None,
) -> tuple[AISResult, AISCheck]:
    """Forward AIS (`ais_log_z`) and its check against a second, independent run at half the temperatures and
    against the free energies of the data's own states."""
    full = ais_log_z(rbm, data, schedule, n_runs, n_trace, generator)
    half = ais_log_z(rbm, data, halved_schedule(schedule), n_runs, 1, generator)
    return full, assess(full, half, known_state_bound(rbm, data))
