"""AIS and reverse annealing against exact enumeration on small RBMs."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import random_rbm

from binlatent.ais import ais_log_z, ais_samples, beta_schedule, log_mean_exp_band, raise_log_prob
from binlatent.contrastive import PCDState, contrastive_step
from binlatent.enumeration import exact_log_z, exact_visible_distribution
from binlatent.rbm import RBM

SCHEDULE = [[0.5, 500], [0.9, 2000], [1.0, 3000]]


def trained_rbm(generator: torch.Generator) -> tuple[RBM, torch.Tensor]:
    """An RBM (20 visible, 12 hidden) trained by PCD on noisy copies of three prototypes."""
    prototypes = (torch.rand(3, 20, generator=generator) < 0.5).float()
    flips = (torch.rand(600, 20, generator=generator) < 0.05).float()
    data = (prototypes[torch.arange(600) % 3] + flips) % 2
    rbm = RBM(20, 12, generator=generator)
    rbm.init_from_data_marginals(data)
    state = PCDState(rbm, 50, generator)
    for _ in range(40):
        for batch in data[torch.randperm(600, generator=generator)].split(50):
            contrastive_step(rbm, batch, state, 1, True, lr=0.05, momentum=0.5, generator=generator)
    return rbm, data


def random_data(n_visible: int, generator) -> torch.Tensor:
    return (torch.rand(500, n_visible, generator=generator) < 0.3).float()


@pytest.mark.parametrize(
    "name", ["random 20x12 scale 0.5", "random 15x30 scale 0.3", "random 24x8 scale 1.0", "trained 20x12"]
)
def test_ais_agrees_with_exact_log_z_within_its_band(name, generator):
    if name.startswith("trained"):
        rbm, data = trained_rbm(generator)
    else:
        shape, scale = name.split()[1], float(name.split()[-1])
        nv, nh = map(int, shape.split("x"))
        rbm, data = random_rbm(nv, nh, scale, seed=nv * nh), random_data(nv, generator)
    exact = exact_log_z(rbm)
    result = ais_log_z(rbm, data, SCHEDULE, n_runs=100, generator=generator)
    assert result.log_z_low <= exact <= result.log_z_high, (result.log_z_low, exact, result.log_z_high)
    assert result.log_z_high - result.log_z < 0.5  # the band is informative, not vacuous
    assert result.log_weights.shape == (100,)
    assert result.trace_log_weights.shape[1] == 100


def test_ais_band_is_not_vacuous_when_the_schedule_is_too_short(generator):
    """With very few temperatures AIS underestimates: the mean log weight, an estimate of E[log w] <= log Z - log Z_0
    (Jensen), falls well below the exact value. (log Z itself, the log of the mean weight, may land on either side.)"""
    rbm, data = trained_rbm(generator)
    exact = exact_log_z(rbm)
    short = ais_log_z(rbm, data, [[1.0, 3]], n_runs=100, generator=generator)
    assert short.log_z_base + short.log_weights.mean() < exact - 1.0


def model_samples(rbm: RBM, n: int, generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact samples v ~ p(v) by enumeration, and their exact log p(v)."""
    states, probs = exact_visible_distribution(rbm)
    v = states[torch.multinomial(probs, n, replacement=True, generator=generator)].float()
    return v, (-rbm.free_energy(v).double() - exact_log_z(rbm)).detach()


def test_raise_is_an_unbiased_estimate_of_the_annealing_models_probability(generator):
    """E_{v~p}[w(v) / p(v)] = sum_v p_ann(v) = 1 for any schedule: the weights are normalised correctly.
    The ratios are heavy-tailed with few betas, so the sample is large enough for the 3-sigma band to hold."""
    rbm, data = trained_rbm(generator)
    v, log_p = model_samples(rbm, 8000, generator)
    for n_betas in (20, 2000):
        _, low, high = log_mean_exp_band(raise_log_prob(rbm, v, data, [[1.0, n_betas]], generator) - log_p)
        assert low <= 0.0 <= high, (n_betas, low, high)


@pytest.mark.parametrize("kind", ["trained", "random"])
def test_raise_sits_on_the_conservative_side_of_the_exact_log_likelihood(kind, generator):
    """On average over model samples RAISE is below the exact log p(v), and approaches it as betas grow."""
    if kind == "trained":
        rbm, data = trained_rbm(generator)
    else:
        rbm, data = random_rbm(20, 12, 0.5, seed=3), random_data(20, generator)
    v, log_p = model_samples(rbm, 2000, generator)
    gaps = []
    for n_betas in (20, 200, 2000):
        gap = raise_log_prob(rbm, v, data, [[1.0, n_betas]], generator) - log_p  # (2000,)
        se = float(gap.std() / math.sqrt(len(gap)))
        assert float(gap.mean()) < -2 * se or n_betas == 2000, (n_betas, float(gap.mean()), se)
        assert float(gap.mean()) < 3 * se
        gaps.append(float(gap.mean()))
    assert gaps[0] < gaps[1] < gaps[2] + 0.02
    assert gaps[2] > -0.15


def test_beta_schedule_and_its_errors():
    betas = beta_schedule([[0.5, 10], [1.0, 20]])
    assert len(betas) == 31 and betas[0] == 0 and betas[-1] == 1
    assert torch.all(betas[1:] > betas[:-1])
    with pytest.raises(ValueError, match="must end at beta = 1"):
        beta_schedule([[0.5, 10]])
    with pytest.raises(ValueError, match="not valid"):
        beta_schedule([[0.5, 10], [0.4, 10]])


def test_log_mean_exp_band_matches_direct_computation():
    log_w = torch.tensor([0.1, -0.3, 0.5, 0.0], dtype=torch.float64)
    mean, low, high = log_mean_exp_band(log_w + 1000.0)  # shifted far beyond float range of exp
    w = torch.exp(log_w)
    se = float(w.std() / 2)
    assert mean - 1000 == pytest.approx(math.log(float(w.mean())))
    assert low - 1000 == pytest.approx(math.log(float(w.mean()) - 3 * se))
    assert high - 1000 == pytest.approx(math.log(float(w.mean()) + 3 * se))
    assert log_mean_exp_band(torch.tensor([0.0, 10.0]))[1] == -math.inf  # band reaches zero


def test_ais_samples_reach_each_mode_in_proportion_to_its_mass(generator):
    """Three hidden units each switch on one prototype state, holding about 50, 30 and 20 % of the mass (a state's
    mode is its nearest prototype). AIS runs drawn by weight put the modes in those proportions; Gibbs chains from
    random states, 50 sweeps long, keep the proportions of the modes they first fell into."""
    prototypes = torch.stack([torch.arange(16) < 8, torch.arange(16) >= 8, torch.arange(16) % 2 == 0]).float()
    rbm = RBM(16, 3)
    with torch.no_grad():
        rbm.W.copy_(3.0 * (2 * prototypes - 1).T)
        rbm.a.zero_()
        rbm.b.copy_(-3.0 * prototypes.sum(1) + 14 + torch.tensor([0.5, 0.3, 0.2]).log())

    def mode_shares(states: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        nearest = torch.cdist(states.double(), prototypes.double(), p=1).argmin(1)
        return torch.zeros(3, dtype=torch.float64).index_add_(0, nearest, weights.double())

    states, probs = exact_visible_distribution(rbm)
    exact = mode_shares(states, probs)
    uniform = torch.full((3000,), 1 / 3000)
    data = (torch.rand(500, 16, generator=generator) < 0.5).float()  # base rates 1/2: no hint of the modes
    drawn, ess = ais_samples(rbm, data, SCHEDULE, 3000, 6000, generator)
    assert drawn.shape == (3000, 16) and 0 < ess <= 6000
    torch.testing.assert_close(mode_shares(drawn, uniform), exact, atol=0.03, rtol=0)
    gibbs = rbm.gibbs((torch.rand(3000, 16, generator=generator) < 0.5).float(), 50, generator)
    assert (mode_shares(gibbs, uniform) - exact).abs().max() > 0.05
