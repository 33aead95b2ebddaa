"""AIS that reports its own reliability: the flag fires where the ±3σ band is overconfident, and stays clear on a
well-annealed schedule."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import random_rbm

from binlatent.ais import AISResult, effective_sample_size
from binlatent.ais_diagnostics import assess, checked_ais_log_z, halved_schedule, known_state_bound
from binlatent.enumeration import exact_log_z
from binlatent.priors import LogZ, LogZSettings, rbm_log_z
from binlatent.stats import Band

SHORT, WELL_ANNEALED = [[1.0, 10]], [[0.5, 500], [0.9, 1000], [1.0, 1500]]


@pytest.fixture(scope="module")
def multimodal():
    """A 12 x 10 RBM with N(0, 8^2) weights: several well-separated modes, log Z enumerable."""
    rbm = random_rbm(12, 10, 8.0, seed=1)
    data = (torch.rand(500, 12, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    return rbm, data, exact_log_z(rbm)


def test_the_flag_fires_where_the_band_misses_log_z_and_stays_clear_when_well_annealed(multimodal):
    """100 runs of 10 temperatures: the band misses the exact log Z in several seeds (the overconfident case) and
    every one of those is flagged; 3,000 temperatures: the band holds and the flag stays clear."""
    rbm, data, exact = multimodal
    short = [checked_ais_log_z(rbm, data, SHORT, 100, 1, torch.Generator().manual_seed(s)) for s in range(10)]
    missed = [not (full.log_z_low <= exact <= full.log_z_high) for full, _ in short]
    assert sum(missed) >= 3
    assert all(not check.reliable for (_, check), miss in zip(short, missed, strict=True) if miss)
    assert sum(not check.reliable for _, check in short) >= 9
    for seed in range(5):
        full, check = checked_ais_log_z(rbm, data, WELL_ANNEALED, 100, 1, torch.Generator().manual_seed(seed))
        assert full.log_z_low <= exact <= full.log_z_high
        assert check.reliable, check.summary
        assert check.ess > 80 and check.difference < check.difference_band


def test_the_reasons_name_the_effective_sample_size_and_the_half_schedule_difference():
    def result(log_z: float, log_w: list[float]) -> AISResult:
        return AISResult(log_z, log_z - 0.01, log_z + 0.01, torch.tensor(log_w).numpy(), None, None, 0.0)

    equal = [0.0] * 100
    assert assess(result(10.0, equal), result(10.0, equal)).reliable
    check = assess(result(10.0, [0.0] + [-30.0] * 99), result(5.0, equal))
    assert not check.reliable and len(check.reasons) == 2
    assert "effective sample size 1.0 of 100" in check.summary and "5.000 nats below" in check.summary


def test_effective_sample_size_and_halved_schedule():
    assert effective_sample_size(torch.zeros(50)) == pytest.approx(50)
    assert effective_sample_size(torch.tensor([0.0, -math.inf, -math.inf])) == pytest.approx(1)
    assert halved_schedule([[0.5, 1000], [0.9, 4001], [1.0, 1]]) == [[0.5, 500], [0.9, 2000], [1.0, 1]]


def test_evaluation_log_z_carries_the_check_and_an_interval_widened_by_the_difference(multimodal):
    rbm, data, _ = multimodal
    log_z = rbm_log_z(rbm, data, LogZSettings.evaluation({"runs": 50, "schedule": SHORT}), torch.Generator())
    assert log_z.check is not None and log_z.check.n_runs == 50
    spread = abs(log_z.check.difference)
    assert (log_z.band.low, log_z.band.high) == pytest.approx((log_z.low - spread, log_z.high + spread))
    assert log_z.band.value == log_z.value
    assert rbm_log_z(rbm, data, LogZSettings.per_epoch({"runs": 50, "schedule": SHORT})).check is None
    assert LogZ.normalised().band == Band.point(0.0)


def test_an_estimate_below_a_data_code_s_free_energy_is_flagged(multimodal):
    """log Z is at least -F(v) of any state v: the bound holds against the exact value, and an estimate that falls
    below it is flagged, whatever its weights and half-schedule run say."""
    rbm, data, exact = multimodal
    bound = known_state_bound(rbm, data)
    states = (data > 0.5).to(rbm.W.dtype)
    assert bound == pytest.approx(float((-rbm.free_energy(states)).max().detach())) and bound <= exact

    def result(log_z: float) -> AISResult:
        return AISResult(log_z, log_z - 0.01, log_z + 0.01, torch.zeros(100).numpy(), None, None, 0.0)

    assert assess(result(bound + 1), result(bound + 1), bound).reliable
    check = assess(result(bound - 1), result(bound - 1), bound)
    assert not check.reliable and "below -F(v)" in check.summary
