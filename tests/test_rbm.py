"""The RBM: free energy, exact enumeration, CD/PCD gradients and training against exact sums."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import brute_force_log_z, random_rbm

from binlatent.contrastive import PCDState, contrastive_gradient, contrastive_step
from binlatent.enumeration import exact_log_likelihood, exact_log_z, exact_visible_distribution
from binlatent.rbm import RBM
from binlatent.sampling import Uniforms


def test_free_energy_matches_sum_over_hidden_states():
    rbm = random_rbm(5, 4, 1.0, seed=1)
    from binlatent.enumeration import all_binary_states

    v = all_binary_states(5, 0, 32).float()
    h = all_binary_states(4, 0, 16).float()
    energy = -(v @ rbm.a)[:, None] - (h @ rbm.b)[None, :] - v @ rbm.W @ h.T  # (32, 16)
    expected = -torch.logsumexp(-energy, 1)
    torch.testing.assert_close(rbm.free_energy(v).detach(), expected.detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(6, 5), (5, 9), (9, 4)])
def test_exact_log_z_matches_brute_force_over_both_layers(shape):
    rbm = random_rbm(*shape, scale=1.0, seed=sum(shape))
    assert exact_log_z(rbm) == pytest.approx(brute_force_log_z(rbm), abs=1e-9)


def test_exact_log_z_is_chunked_and_refuses_large_layers():
    rbm = random_rbm(10, 30, 0.3, seed=3)
    assert exact_log_z(rbm, chunk=7) == pytest.approx(exact_log_z(rbm), abs=1e-9)
    with pytest.raises(ValueError, match="at most 25 units"):
        exact_log_z(RBM(30, 30))


def exact_gradient(rbm: RBM, data: torch.Tensor) -> dict[str, torch.Tensor]:
    """d/dtheta of the mean exact log-likelihood, by autograd through the enumerated log Z."""
    rbm.zero_grad()
    states = torch.cartesian_prod(*[torch.tensor([0.0, 1.0], dtype=rbm.W.dtype)] * rbm.n_visible)
    log_z = torch.logsumexp(-rbm.free_energy(states), 0)
    (-rbm.free_energy(data).mean() - log_z).backward()
    return {k: getattr(rbm, k).grad.clone() for k in ("W", "a", "b")}


def test_negative_phase_from_exact_samples_gives_the_exact_gradient(generator):
    """contrastive_gradient with exact model samples agrees in expectation with the exact gradient."""
    rbm = random_rbm(6, 5, 0.7, seed=4)
    data = (torch.rand(200, 6, generator=generator) < 0.3).float()
    exact = exact_gradient(rbm, data)
    states, probs = exact_visible_distribution(rbm)
    samples = states[torch.multinomial(probs, 200_000, replacement=True, generator=generator)].float()
    estimate = contrastive_gradient(rbm, data, samples)
    for k in exact:
        torch.testing.assert_close(estimate[k], exact[k], atol=0.01, rtol=0)


@pytest.mark.parametrize("persistent", [True, False])
def test_cd_and_pcd_updates_agree_in_expectation_with_the_exact_gradient(persistent, generator, cpu_parts):
    """From chains at equilibrium (PCD) or many Gibbs sweeps (CD-k, large k), one zero-momentum step
    moves the parameters by lr times the exact gradient, on average over many chains. In float64,
    so that the rounding of a tiny step into W does not hide the estimate. Serial, and split in two parts."""
    rbm = random_rbm(6, 5, 0.7, seed=5).double()
    data = (torch.rand(4000, 6, generator=generator) < 0.3).double()
    exact = exact_gradient(rbm, data)
    lr = 1e-3
    n = len(data)
    state = PCDState(rbm, n, generator)
    if persistent:  # equilibrate the persistent chains first: h ~ p(h|v), v ~ p(v)
        states, probs = exact_visible_distribution(rbm)
        v = states[torch.multinomial(probs, n, replacement=True, generator=generator)]
        state.chains = (torch.rand(n, 5, generator=generator, dtype=torch.float64) < rbm.hidden_probs(v)).double()
    before = {k: getattr(rbm, k).detach().clone() for k in exact}
    contrastive_step(rbm, data, state, k=1 if persistent else 30, persistent=persistent, lr=lr, generator=generator)
    for k in exact:
        step = (getattr(rbm, k).detach() - before[k]) / lr
        torch.testing.assert_close(step, exact[k], atol=0.04, rtol=0)


def test_pcd_training_raises_the_exact_log_likelihood(generator, cpu_parts):
    """PCD-1 with momentum on a tiny structured data set: exact log-likelihood goes up substantially."""
    prototypes = torch.tensor([[1, 1, 1, 0, 0, 0, 1, 0], [0, 0, 0, 1, 1, 1, 0, 1]], dtype=torch.float32)
    noise = (torch.rand(400, 8, generator=generator) < 0.05).float()
    data = (prototypes[torch.arange(400) % 2] + noise) % 2
    rbm = RBM(8, 6, generator=generator)
    rbm.init_from_data_marginals(data)
    before = exact_log_likelihood(rbm, data)
    state = PCDState(rbm, 40, generator)
    for _ in range(30):
        for batch in data[torch.randperm(400, generator=generator)].split(40):
            contrastive_step(rbm, batch, state, 1, True, lr=0.05, momentum=0.5, generator=generator)
    after = exact_log_likelihood(rbm, data)
    assert after > before + 1.0, (before, after)
    assert after < 0 and math.isfinite(after)


@pytest.mark.parametrize("momentum", [0.0, 0.7])
def test_a_step_with_momentum_and_weight_decay_is_the_textbook_update(generator, cpu_parts, momentum):
    """vel <- momentum vel + lr/n (V+^T H+ - n/m V-^T H-) and W <- (1 - lr wd) W + vel, over two steps, where
    H = p(h|v) under the weights before the step and V- is the negative sample the step returns."""
    rbm = random_rbm(7, 5, 0.5, seed=3)
    state = PCDState(rbm, 6, generator)
    lr, wd = 0.1, 0.01
    velocity = {k: torch.zeros_like(getattr(rbm, k)) for k in ("W", "a", "b")}
    for step in range(2):
        batch = (torch.rand(8, 7, generator=generator) < 0.4).float()
        before = {k: getattr(rbm, k).detach().clone() for k in ("W", "a", "b")}
        negative = contrastive_step(rbm, batch, state, 1, True, lr, momentum, wd, generator).clone()
        ph_pos = torch.sigmoid(batch @ before["W"] + before["b"])
        ph_neg = torch.sigmoid(negative @ before["W"] + before["b"])
        grad = {
            "W": batch.T @ ph_pos - (8 / 6) * negative.T @ ph_neg,
            "a": batch.sum(0) - (8 / 6) * negative.sum(0),
            "b": ph_pos.sum(0) - (8 / 6) * ph_neg.sum(0),
        }
        for k in ("W", "a", "b"):
            velocity[k] = momentum * velocity[k] + lr / 8 * grad[k]
            decay = 1 - lr * wd if k == "W" else 1.0
            expected = decay * before[k] + velocity[k]
            torch.testing.assert_close(getattr(rbm, k).detach(), expected, atol=1e-5, rtol=1e-5, msg=f"{k} {step}")


def test_cd_needs_one_chain_per_row(generator):
    rbm = RBM(6, 4)
    with pytest.raises(ValueError, match="one chain per data row"):
        contrastive_step(rbm, torch.zeros(10, 6), PCDState(rbm, 5, generator), persistent=False, generator=generator)


@pytest.mark.parametrize("persistent", [False, True])
def test_a_batch_gathered_into_the_state_buffer_trains_like_a_copied_one(persistent):
    """state.batch(n) lets a caller gather rows straight into the step's work array; the update is the same."""
    data = (torch.rand(60, 9, generator=torch.Generator().manual_seed(5)) < 0.3).float()
    trained = []
    for gather in (False, True):
        rbm, g = random_rbm(9, 7, 0.5, seed=11), torch.Generator().manual_seed(2)
        state = PCDState(rbm, 20, g)
        for idx in torch.randperm(60, generator=torch.Generator().manual_seed(4)).split(20):
            batch = torch.index_select(data, 0, idx, out=state.batch(20)) if gather else data[idx]
            contrastive_step(rbm, batch, state, 2, persistent, lr=0.1, momentum=0.5, generator=g)
        trained.append([rbm.W.detach(), rbm.a.detach(), rbm.b.detach(), state.chains])
    for copied, gathered in zip(*trained, strict=True):
        assert torch.equal(copied, gathered)
    assert not torch.equal(trained[0][0], random_rbm(9, 7, 0.5, seed=11).W.detach())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_uniforms_are_numpys_pcg64dxsm_stream_and_lie_in_the_unit_interval(dtype):
    """The shifted raw words give, value for value, what numpy's `random` gives from the same seed, at any size."""
    uniforms = Uniforms(torch.Generator().manual_seed(5), torch.device("cpu"), dtype)
    seed = int(torch.randint(2**62, (1,), generator=torch.Generator().manual_seed(5)))
    reference = np.random.Generator(np.random.PCG64DXSM(seed))
    draws = []
    for shape in [(100, 200), (3, 4), (512, 30)]:
        t = uniforms.fill_(torch.empty(shape, dtype=dtype))
        expected = reference.random(shape, dtype=t.numpy().dtype)
        np.testing.assert_array_equal(t.numpy(), expected)
        draws.append(t.reshape(-1))
    every = torch.cat(draws)
    assert 0 <= float(every.min()) and float(every.max()) < 1
    assert abs(float(every.mean()) - 0.5) < 0.01 and abs(float(every.var()) - 1 / 12) < 0.005
