"""The importance-weighted bound and the encoder's estimators, against exact sums on a tiny model."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from helpers import SMALL_NETWORK, built_model

from binlatent.enumeration import all_binary_states
from binlatent.estimators import (
    draw_by_weight,
    iwae_bound,
    log_mean_exp,
    rws_surrogate,
    vimco_baselines,
    vimco_surrogate,
)
from binlatent.image import ImageFormat
from binlatent.likelihoods import bernoulli_log_prob
from binlatent.models import HybridModel
from binlatent.variants import ModelSpec

NETWORK = {"kind": "mlp", "n_latent": 3, "hidden": [8], "activation": "tanh"}


def tiny_model(seed: int = 0) -> HybridModel:
    torch.manual_seed(seed)
    spec = ModelSpec("tiny", "factorised", False, False, "vimco", 2, 0, 1e-3, network=SMALL_NETWORK)
    model = built_model(spec, ImageFormat((5,), "binary"), NETWORK)
    with torch.no_grad():
        model.prior.logits.copy_(torch.tensor([0.5, -1.0, 0.2]))
    return model


def exact_log_marginal(model: HybridModel, x: torch.Tensor) -> torch.Tensor:
    """log p(x) = log sum_z p(x|z) p(z) by enumerating all 2^3 codes, per row of x."""
    z = all_binary_states(3, 0, 8).float().expand(len(x), 8, 3)
    return torch.logsumexp(model.decoder.log_prob(x, z) + model.prior.unnormalised_log_prob(z), -1)


def exact_expected_bound(model: HybridModel, x: torch.Tensor, k: int) -> torch.Tensor:
    """E_{z_1..z_K ~ q}[L_K] by summing over all 8^K code tuples; differentiable in every parameter."""
    z_all = all_binary_states(3, 0, 8).float()  # (8, 3)
    logits = model.encoder(x)  # (n, 3)
    log_q = -torch.nn.functional.binary_cross_entropy_with_logits(
        logits[:, None, :].expand(-1, 8, -1), z_all.expand(len(x), 8, 3), reduction="none"
    ).sum(-1)  # (n, 8)
    log_joint = model.decoder.log_prob(x, z_all.expand(len(x), 8, 3)) + model.prior.unnormalised_log_prob(z_all)
    total = torch.zeros(len(x))
    for idx in itertools.product(range(8), repeat=k):
        idx = list(idx)
        prob = log_q[:, idx].sum(-1).exp()
        total = total + prob * log_mean_exp(log_joint[:, idx] - log_q[:, idx], -1)
    return total


@pytest.fixture
def x() -> torch.Tensor:
    return torch.tensor([[1, 0, 1, 1, 0], [0, 0, 1, 0, 1]], dtype=torch.float32)


def test_bound_is_below_log_marginal_and_tightens_with_k(x):
    model = tiny_model()
    with torch.no_grad():
        exact = exact_log_marginal(model, x)
        bounds = [exact_expected_bound(model, x, k) for k in (1, 2, 3)]
    assert torch.all(bounds[0] < bounds[1]) and torch.all(bounds[1] < bounds[2]) and torch.all(bounds[2] < exact)


def test_sampled_bound_matches_the_exact_expectation(x, generator):
    model = tiny_model()
    with torch.no_grad():
        exact = exact_expected_bound(model, x, 2)
        samples = iwae_bound(model.log_weights(x.repeat(20000, 1), 2, generator)[0]).reshape(20000, 2)
    se = samples.std(0) / math.sqrt(len(samples))
    assert torch.all((samples.mean(0) - exact).abs() < 4 * se), (samples.mean(0), exact, se)


def test_log_weights_shapes_and_signs(x, generator):
    model = tiny_model()
    log_w, z, log_q = model.log_weights(x, 7, generator)
    assert log_w.shape == (2, 7) and z.shape == (2, 7, 3) and log_q.shape == (2, 7)
    assert set(z.unique().tolist()) <= {0.0, 1.0}
    assert torch.all(log_q <= 0) and torch.all(log_w < 0)  # probabilities of discrete events


def test_draws_by_weight_follow_the_normalised_weights(generator):
    """Each row's draws land on its samples in proportion to exp(log w): frequencies within 4 binomial SE."""
    log_w = torch.randn(3, 5, generator=generator, dtype=torch.float64) * 2
    units = torch.eye(5).expand(3, -1, -1)  # sample k of every row is the k-th unit vector
    counts = draw_by_weight(log_w, units, 20000, generator).sum(1)  # (3, 5)
    p = torch.softmax(log_w, -1)
    se = (p * (1 - p) / 20000).sqrt()
    assert bool(((counts / 20000 - p).abs() < 4 * se + 1e-4).all()), (counts / 20000, p)


def test_vimco_baselines_replace_each_weight_by_the_geometric_mean_of_the_others():
    log_w = torch.tensor([[0.0, 1.0, 3.0]])
    baselines = vimco_baselines(log_w)
    for k in range(3):
        others = [log_w[0, j] for j in range(3) if j != k]
        replaced = [float(sum(others) / 2) if j == k else float(log_w[0, j]) for j in range(3)]
        assert float(baselines[0, k]) == pytest.approx(math.log(sum(math.exp(v) for v in replaced) / 3))
    with pytest.raises(ValueError, match="at least K = 2"):
        vimco_baselines(torch.zeros(2, 1))


def encoder_gradient(model: HybridModel, objective: torch.Tensor) -> torch.Tensor:
    grads = torch.autograd.grad(objective, list(model.encoder.parameters()))
    return torch.cat([g.flatten() for g in grads])


def test_vimco_gradient_is_unbiased_for_the_exact_gradient_of_the_bound(x, generator):
    """Averaged over many draws, the VIMCO surrogate's encoder gradient equals d E[L_K] / d phi."""
    model = tiny_model()
    k = 2
    exact = encoder_gradient(model, exact_expected_bound(model, x, k).mean())
    draws = []  # each draw: the mean gradient over 200 independent replicates of x
    for _ in range(50):
        log_w, _, log_q = model.log_weights(x.repeat(200, 1), k, generator)
        draws.append(encoder_gradient(model, vimco_surrogate(log_w, log_q)))
    draws = torch.stack(draws)
    mean, se = draws.mean(0), draws.std(0) / math.sqrt(len(draws))
    assert torch.all((mean - exact).abs() < 4.5 * se + 1e-3), float(((mean - exact).abs() / (se + 1e-9)).max())
    assert torch.nn.functional.cosine_similarity(mean, exact, 0) > 0.95


def weights_for_codes(model: HybridModel, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log w and log q for given codes z (batch, K, n_latent), so that two objectives see the same draw."""
    log_q = bernoulli_log_prob(model.encoder(x).unsqueeze(1), z)
    return model.decoder.log_prob(x, z) + model.prior.unnormalised_log_prob(z) - log_q, log_q


@pytest.mark.parametrize("surrogate", [vimco_surrogate, rws_surrogate])
def test_decoder_gradient_is_the_weighted_log_likelihood_gradient(surrogate, x, generator):
    """d surrogate / d theta = mean_x sum_k w~_k d log p(x|z_k) / d theta, for VIMCO and RWS alike."""
    model = tiny_model()
    z = model.log_weights(x, 4, generator)[1]
    decoder = list(model.decoder.parameters())
    log_w, _ = weights_for_codes(model, x, z)
    weights = torch.softmax(log_w.detach(), -1)
    expected = torch.autograd.grad((weights * model.decoder.log_prob(x, z)).sum(-1).mean(), decoder)
    got = torch.autograd.grad(surrogate(*weights_for_codes(model, x, z)), decoder)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-4)


def test_rws_encoder_gradient_is_the_wake_update(x, generator):
    """RWS moves q towards the normalised weights: its encoder gradient is sum_k w~_k d log q(z_k|x)."""
    model = tiny_model()
    z = model.log_weights(x, 4, generator)[1]
    log_w, log_q = weights_for_codes(model, x, z)
    expected = encoder_gradient(model, (torch.softmax(log_w.detach(), -1) * log_q).sum(-1).mean())
    torch.testing.assert_close(encoder_gradient(model, rws_surrogate(*weights_for_codes(model, x, z))), expected)
