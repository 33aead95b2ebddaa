"""The RBM prior of several layers (a DBN) against exact enumeration on tiny stacks: its importance estimate of
p*(z), the model's log p(x) estimate, its samples, the DBN variational bound of greedy training; and with one layer,
the plain RBM's own numbers."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import random_rbm
from helpers import SMALL_NETWORK, built_model

from binlatent.contrastive import PCDState, contrastive_step
from binlatent.enumeration import all_binary_states, exact_log_z
from binlatent.estimators import log_mean_exp
from binlatent.image import ImageFormat
from binlatent.models import HybridModel
from binlatent.priors import LogZSettings, RBMPrior, rbm_log_z
from binlatent.priors.rbm_prior import exact_log_prob, exact_variational_bound
from binlatent.rbm import RBM
from binlatent.variants import ModelSpec

SIZES = [8, 6, 5]  # z, h1, h2: every layer small enough to enumerate
AIS = {"runs": 200, "schedule": [[0.5, 500], [1.0, 1500]]}


def random_dbn(sizes: list[int], scale: float, seed: int) -> RBMPrior:
    """A DBN of random RBMs (weights N(0, scale^2)), untied: recognition layers perturbed from the RBMs'."""
    prior = RBMPrior(sizes[0], sizes[1:])
    pairs = zip(sizes, sizes[1:], strict=False)
    prior.init_from_rbms([random_rbm(n, m, scale, seed + i) for i, (n, m) in enumerate(pairs)])
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in prior.recognition:
            layer.weight.add_(torch.randn(layer.weight.shape, generator=g) * 0.1)
    return prior


def all_codes(n: int) -> torch.Tensor:
    return all_binary_states(n, 0, 2**n, torch.float32)


def test_exact_enumeration_is_a_distribution():
    prior = random_dbn(SIZES, 1.0, 0)
    assert float(torch.logsumexp(exact_log_prob(prior, all_codes(SIZES[0])), 0)) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("sizes", [SIZES, [6, 5, 4, 3]], ids=["two layers", "three layers"])
def test_importance_estimate_of_p_star_matches_enumeration(sizes, generator):
    """The mean of M importance estimates of p*(z) = p(z) Z_top agrees with the exact value for every code,
    within four of its standard errors (the delta method's on the log scale)."""
    prior = random_dbn(sizes, 0.7, 1)
    z = all_codes(sizes[0])
    with torch.no_grad():
        log_ratio = prior.importance_log_prob(z.expand(4000, -1, -1), generator)[0].double()
    estimate = log_mean_exp(log_ratio, 0)
    weights = (log_ratio - estimate).exp()  # w / mean(w), per code
    se = weights.std(0) / math.sqrt(len(weights))
    error = (estimate - (exact_log_prob(prior, z) + exact_log_z(prior.top))).abs()
    assert bool((error < 5 * se + 1e-3).all()), float((error / se).max())
    assert float(se.median()) < 0.1  # a precise check: the recognition path is a usable proposal


@pytest.mark.parametrize("start", ["random states", "AIS runs drawn by weight"])
def test_samples_follow_the_exact_distribution(generator, start):
    prior = random_dbn(SIZES, 1.0, 2)
    codes = (torch.rand(500, SIZES[0], generator=generator) < 0.5).float()  # what AIS's base model is fitted to
    ais = {"runs_per_sample": 1, "schedule": [[1.0, 100]]} if start.startswith("AIS") else None
    z = prior.sample(40000, gibbs_steps=100, generator=generator, codes=lambda: codes, ais=ais)
    index = (z * 2 ** torch.arange(SIZES[0])).sum(-1).long()
    empirical = torch.bincount(index, minlength=2 ** SIZES[0]).double() / len(z)
    exact = exact_log_prob(prior, all_codes(SIZES[0])).exp()
    assert 0.5 * float((empirical - exact).abs().sum()) < 0.03


def tiny_model(layers: list[int], seed: int) -> HybridModel:
    """A hybrid on 3x3 binary images with an 8-unit code and a DBN prior of random RBMs."""
    spec = ModelSpec("deep", "rbm", True, True, "vimco", 5, layers[0], 1e-3, tuple(layers[1:]), network=SMALL_NETWORK)
    network = {"kind": "mlp", "n_latent": SIZES[0], "hidden": [6], "activation": "tanh"}
    torch.manual_seed(seed)
    model = built_model(spec, ImageFormat((3, 3), "binary"), network)
    model.prior.load_state_dict(random_dbn([SIZES[0], *layers], 0.7, seed).state_dict())
    with torch.no_grad():  # q(z|x) near uniform: a proposal that covers every code
        model.encoder.net[-1].weight.mul_(0.1)
    return model.eval()


def exact_model_log_prob(model: HybridModel, x: torch.Tensor) -> torch.Tensor:
    """log p(x) = log sum_z p(x|z) p(z), every code enumerated; float64, per image."""
    z = all_codes(SIZES[0])
    with torch.no_grad():
        log_px_z = model.decoder.log_prob(x, z.expand(len(x), -1, -1)).double()  # (n, 2^n_latent)
    return torch.logsumexp(log_px_z + exact_log_prob(model.prior, z), -1)


def test_model_log_likelihood_matches_enumeration(generator):
    """Importance sampling over every latent layer minus AIS's log Z of the top RBM: the exact log p(x)."""
    model = tiny_model(SIZES[1:], 3)
    x = (torch.rand(20, 9, generator=generator) < 0.5).float()
    conservative = {"K": 100, "chains": 8, "schedule": [[1.0, 30]], "long_schedule": [[1.0, 3000]]}
    result = model.log_likelihood(x, K=10000, ais=AIS, conservative=conservative, generator=generator)
    exact = exact_model_log_prob(model, x)
    assert result.log_z.exact == pytest.approx(exact_log_z(model.prior.top), abs=1e-9)
    assert result.log_z.low - 0.02 <= result.log_z.exact <= result.log_z.high + 0.02
    torch.testing.assert_close(torch.as_tensor(result.per_image), exact, atol=0.1, rtol=0)
    # RAISE from importance samples drawn by their weights, with a long schedule: a stochastic lower bound on the
    # annealing model's log-likelihood, which is then close to the model's (tests/test_raise.py checks it exactly)
    lower = {label: float(values.mean()) for label, values in result.conservative.items()}
    assert lower["_long"] <= float(exact.mean()) + 0.02
    assert abs(lower["_long"] - float(exact.mean())) < 0.1 and abs(lower["_4K"] - lower[""]) < 0.1


def structured_codes(n: int, generator: torch.Generator) -> torch.Tensor:
    """Codes from four noisy prototypes over 8 units: more structure than one 6-unit RBM captures."""
    prototypes = torch.tensor(
        [[1, 1, 1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 1, 1, 0, 0], [1, 0, 1, 0, 1, 0, 1, 0], [0, 1, 0, 0, 0, 1, 1, 1]],
        dtype=torch.float32,
    )
    noise = (torch.rand(n, 8, generator=generator) < 0.05).float()
    return (prototypes[torch.randint(4, (n,), generator=generator)] + noise) % 2


def train(rbm: RBM, data: torch.Tensor, epochs: int, lr: float, generator: torch.Generator) -> None:
    """PCD-1 with the workflow's update, batches of 50."""
    state = PCDState(rbm, 50, generator)
    for _ in range(epochs):
        for batch in data[torch.randperm(len(data), generator=generator)].split(50):
            contrastive_step(rbm, batch, state, 1, True, lr=lr, momentum=0.5, generator=generator)


def transposed(rbm: RBM) -> RBM:
    """The RBM with its layers swapped: its visible marginal is the original's hidden marginal."""
    flipped = RBM(rbm.n_hidden, rbm.n_visible)
    flipped.load_state_dict({"W": rbm.W.detach().T.clone(), "a": rbm.b.detach().clone(), "b": rbm.a.detach().clone()})
    return flipped


def test_greedy_second_layer_raises_the_variational_bound(generator):
    """Hinton, Osindero & Teh (2006): a second layer initialised from the transposed first makes the DBN bound
    equal to the one-layer log-likelihood, and fitting it to the first layer's hidden units raises the bound."""
    z = structured_codes(1000, generator)
    first = RBM(8, 6, generator=generator)
    first.init_from_data_marginals(z)
    train(first, z, 30, 0.05, generator)
    one_layer = RBMPrior(8, [6])
    one_layer.init_from_rbms([first])
    log_likelihood = float(exact_log_prob(one_layer, z).mean())

    second = transposed(first)
    deep = RBMPrior(8, [6, 8])
    deep.init_from_rbms([first, second])
    assert float(exact_variational_bound(deep, z).mean()) == pytest.approx(log_likelihood, abs=1e-4)

    hidden = torch.bernoulli(first.hidden_probs(z).detach().repeat(5, 1), generator=generator)
    train(second, hidden, 20, 0.01, generator)
    deep.init_from_rbms([first, second])
    bound = float(exact_variational_bound(deep, z).mean())
    assert bound > log_likelihood + 0.01, (log_likelihood, bound)
    assert float(exact_log_prob(deep, z).mean()) >= bound  # the bound bounds


def test_one_layer_gives_the_rbms_own_numbers(generator):
    """A one-layer RBM prior is the plain RBM prior exactly: p*(z) = exp(-F(z)) with no auxiliary sample, log Z the
    RBM's, the base data the codes themselves; and a spec with one RBM builds a prior with no directed layers."""
    rbm = random_rbm(8, 6, 1.0, 4)
    prior = RBMPrior(8, [6])
    prior.init_from_rbms([rbm])
    z = all_codes(8)
    log_p, log_q, top = prior.importance_log_prob(z, generator)
    torch.testing.assert_close(log_p, -rbm.free_energy(z), rtol=0, atol=0)
    torch.testing.assert_close(prior.unnormalised_log_prob(z), -rbm.free_energy(z), rtol=0, atol=0)
    assert float(log_q.abs().max()) == 0 and torch.equal(top, z) and torch.equal(prior.base_data(z), z)
    how = LogZSettings.evaluation(AIS)
    seeded = [torch.Generator().manual_seed(5) for _ in range(2)]
    assert prior.log_z(lambda: z, how, seeded[0]).value == rbm_log_z(rbm, z, how, seeded[1]).value
    spec = ModelSpec("h", "rbm", True, True, "vimco", 5, 6, 1e-3, network={**SMALL_NETWORK, "n_latent": 8})
    built = built_model(spec, ImageFormat((3, 3), "binary")).prior
    assert isinstance(built, RBMPrior) and built.n_layers == 1 and len(built.generative) == 0


def test_directed_and_recognition_layers_get_gradients_from_the_bound(generator):
    """Fine-tuning's surrogate reaches every part of the stack: the top RBM, the directed and recognition layers."""
    from binlatent.estimators import vimco_surrogate

    model = tiny_model(SIZES[1:], 6).train()
    x = (torch.rand(10, 9, generator=generator) < 0.5).float()
    log_w, _, log_q = model.log_weights(x, 5, generator)
    vimco_surrogate(log_w, log_q).backward()
    for name, p in model.prior.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name
    assert math.isfinite(float(log_w.detach().sum()))
