"""RAISE is a stochastic lower bound on the log-likelihood of the annealing model, not of the RBM; the annealing
model approaches the RBM as the schedule lengthens. Checked against the annealing model's exact marginal on a tiny
RBM: p_ann = p_0 T_1 ... T_K over every visible state, T_k the Gibbs transition at beta_k."""

from __future__ import annotations

import pytest
import torch
from conftest import random_rbm
from helpers import SMALL_NETWORK, built_model

from binlatent.ais import beta_schedule, log_mean_exp_band, raise_log_prob
from binlatent.enumeration import all_binary_states, exact_log_z
from binlatent.image import ImageFormat
from binlatent.models import HybridModel
from binlatent.rbm import RBM, base_rate_biases
from binlatent.variants import ModelSpec


def bernoulli_table(logits: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """P[i, s] = prod_u Bernoulli(states[s, u]; sigmoid(logits[i, u])), float64."""
    log_p = torch.nn.functional.logsigmoid(logits)
    return torch.exp(log_p @ states.T + (log_p - logits) @ (1 - states).T)


def annealing_model(rbm: RBM, base_bias: torch.Tensor, schedule) -> tuple[torch.Tensor, torch.Tensor]:
    """Every visible state and its exact probability under the annealing model: x_0 from the base-rate model,
    then the Gibbs transitions T_1 .. T_K at beta_1 .. beta_K = 1 (each leaves p_beta invariant)."""
    W, a, b = (p.detach().double() for p in (rbm.W, rbm.a, rbm.b))
    a0 = base_bias.double()
    v, h = all_binary_states(rbm.n_visible, 0, 2**rbm.n_visible), all_binary_states(rbm.n_hidden, 0, 2**rbm.n_hidden)
    p = bernoulli_table(a0[None], v)[0]  # (2^n_visible,) the base-rate model
    for beta in beta_schedule(schedule)[1:].tolist():
        to_h = bernoulli_table(beta * (v @ W + b), h)  # (states, hidden states) p_beta(h | v)
        to_v = bernoulli_table((1 - beta) * a0 + beta * (a + h @ W.T), v)  # (hidden states, states) p_beta(v | h)
        p = (p @ to_h) @ to_v
    return v.float(), p


@pytest.fixture(scope="module")
def tiny():
    """An 8 x 5 RBM with large weights, and a base-rate model fitted to data it fits badly."""
    rbm = random_rbm(8, 5, 2.5, seed=4)
    data = (torch.rand(300, 8, generator=torch.Generator().manual_seed(1)) < 0.2).float()
    return rbm, data, base_rate_biases(data)


@pytest.mark.parametrize("n_betas", [20, 60])
def test_raise_is_unbiased_for_the_annealing_model_and_below_it_on_average(tiny, n_betas):
    """On the states where the annealing model (p_ann > 0.001) and the RBM differ most: the mean of w over many
    runs matches p_ann(v) within its 4-sigma band (the weights are skewed); E[log w(v)] <= log p_ann(v) (Jensen)."""
    rbm, data, base_bias = tiny
    states, p_ann = annealing_model(rbm, base_bias, [[1.0, n_betas]])
    log_p = -rbm.free_energy(states).double().detach() - exact_log_z(rbm)
    distance = torch.where(p_ann > 1e-3, (p_ann.log() - log_p).abs(), 0.0)  # among states p_ann does not neglect
    differ = torch.argsort(distance, descending=True)[:3]
    runs = raise_log_prob(rbm, states[differ].repeat(3000, 1), data, [[1.0, n_betas]], torch.Generator())
    for i, log_w in zip(differ.tolist(), runs.view(3000, 3).T, strict=True):
        _, low, high = log_mean_exp_band(log_w, n_sigma=4.0)
        assert low <= float(p_ann[i].log()) <= high, (low, float(p_ann[i].log()), high)
        assert float(log_w.mean()) < float(p_ann[i].log())


def test_the_annealing_model_and_raise_approach_the_rbm_as_the_schedule_grows(tiny):
    """On the states the RBM finds least likely, the annealing model's exact log-probability and RAISE's mean
    approach the RBM's exact log p(v) as the schedule lengthens."""
    rbm, data, base_bias = tiny
    log_p = -rbm.free_energy(all_binary_states(8, 0, 256).float()).detach().double() - exact_log_z(rbm)  # (256,)
    worst = torch.argsort(log_p)[:20]
    distances, gaps = [], []
    for n_betas in (3, 30, 300, 3000):
        states, p_ann = annealing_model(rbm, base_bias, [[1.0, n_betas]])
        distances.append(float((p_ann.log() - log_p).abs().max()))
        generator = torch.Generator().manual_seed(n_betas)
        runs = raise_log_prob(rbm, states[worst].repeat(100, 1), data, [[1.0, n_betas]], generator).view(100, 20)
        gaps.append(float((runs.mean(0) - log_p[worst]).abs().mean()))
    assert distances == sorted(distances, reverse=True) and distances[-1] < 0.05, distances
    assert gaps[-1] < 0.1 and gaps[-1] < gaps[0], gaps


def tiny_hybrid(rbm: RBM) -> HybridModel:
    """A hybrid on 3x3 binary images whose RBM prior is `rbm`, with random networks."""
    spec = ModelSpec("hybrid", "rbm", True, True, "vimco", 2, rbm.n_hidden, 1e-3, network=SMALL_NETWORK)
    network = {"kind": "mlp", "n_latent": rbm.n_visible, "hidden": [6], "activation": "tanh"}
    torch.manual_seed(0)
    model = built_model(spec, ImageFormat((3, 3), "binary"), network)
    model.prior.top.load_state_dict(rbm.state_dict())
    return model.eval()


@pytest.mark.parametrize("n_betas", [5, 50])
def test_the_hybrids_raise_is_unbiased_for_the_annealing_models_likelihood(tiny, n_betas):
    """RAISE from importance samples drawn in proportion to their weights, at K and 4K: over many repeats the
    mean of exp(estimate) matches p_ann(x) = sum_z p(x|z) p_ann(z) within its 4-sigma band, and the mean of the
    estimate lies below log p_ann(x) (a stochastic lower bound on the annealing model's log-likelihood)."""
    rbm, data, base_bias = tiny
    model, repeats = tiny_hybrid(rbm), 3000
    codes, p_ann = annealing_model(rbm, base_bias, [[1.0, n_betas]])
    x = (torch.rand(3, 9, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    with torch.no_grad():
        log_px_z = model.decoder.log_prob(x, codes.expand(len(x), -1, -1)).double()  # (3, 2^8)
    exact = torch.logsumexp(log_px_z + p_ann.log(), -1)
    cfg = {"K": 2, "chains": 2, "schedule": [[1.0, n_betas]]}
    generator = torch.Generator().manual_seed(n_betas)
    estimates, plain = model.conservative_estimates(x.repeat(repeats, 1), data, 2, cfg, generator)
    assert sorted(estimates) == ["", "_4K"] and sorted(plain) == [2, 8]
    for label in ("", "_4K"):
        for log_l, truth in zip(torch.as_tensor(estimates[label]).view(repeats, 3).T, exact.tolist(), strict=True):
            _, low, high = log_mean_exp_band(log_l, n_sigma=4.0)
            assert low <= truth <= high, (label, low, truth, high)
            assert float(log_l.mean()) < truth
