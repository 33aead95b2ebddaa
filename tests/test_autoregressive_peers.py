"""The autoregressive decoder's peers against exact sums: the plain PixelCNN (a model without a code) is a
normalised distribution over every image, and the factorised, RBM and Gaussian priors with the same decoder give
importance estimates of log p(x) that reach the exact log-likelihood, summed over every code (or integrated over a
one-dimensional Gaussian code)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from helpers import SMALL_NETWORK, built_model

from binlatent.enumeration import exact_log_z
from binlatent.image import ImageFormat
from binlatent.variants import ModelSpec

AUTOREGRESSIVE = {**SMALL_NETWORK, "decoder": "autoregressive", "hidden": [6], "pixelcnn": {**SMALL_NETWORK["pixelcnn"],
                  "layers": 2, "channels": 4}}  # fmt: skip
IMAGE = ImageFormat((3, 3), "binary")


def latent(n: int) -> dict:
    return {**AUTOREGRESSIVE, "n_latent": n}


SPECS = {
    "pixelcnn": ModelSpec("pixelcnn", "none", False, False, "exact", 1, 0, 1e-3, network=latent(0)),
    "factorised": ModelSpec("f", "factorised", True, False, "vimco", 3, 0, 1e-3, network=latent(4)),
    "rbm": ModelSpec("h", "rbm", True, True, "vimco", 3, 3, 1e-3, network=latent(4)),
    "gaussian": ModelSpec("g", "gaussian", False, False, "reparam", 3, 0, 1e-3, network=latent(1)),
}


def every_image(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=math.prod(shape))))


def trained_like(spec: ModelSpec, seed: int = 0):
    """The model of `spec` with the decoder's and the prior's weights drawn at random (not zero: the code's maps and
    the prior matter), and the encoder's zero: q(z|x) is then broad, a proposal that reaches every code."""
    torch.manual_seed(seed)
    model = built_model(spec, IMAGE).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.zeros_like(p) if name.startswith("encoder.") else torch.randn(p.shape) * 0.5)
    return model


def test_the_plain_pixelcnn_sums_to_one_over_every_image_exactly():
    model = trained_like(SPECS["pixelcnn"])
    x = every_image(IMAGE.shape)
    result = model.log_likelihood(x, K=1)
    assert result.log_z.method == "normalised" and model.reconstruct(x[:2]) is None
    assert torch.logsumexp(torch.as_tensor(result.per_image), 0).item() == pytest.approx(0.0, abs=1e-5)
    again = model.log_likelihood(x[:7], K=1)  # exact: no sampling, the same figure every time
    assert (again.per_image == result.per_image[:7]).all()
    assert model.sample(3).shape == (3, IMAGE.n_pixels)


def exact_log_likelihood(model, x: torch.Tensor) -> torch.Tensor:
    """log p(x) = log sum_z p(x|z) p(z), every binary code z enumerated (RBM prior: minus its exact log Z)."""
    n = model.spec.network["n_latent"]
    codes = every_image((n,))
    with torch.no_grad():
        joint = model.decoder.log_prob(x, codes.expand(len(x), -1, -1)) + model.prior.unnormalised_log_prob(codes)
    log_z = exact_log_z(model.prior.top) if model.spec.prior == "rbm" else 0.0
    return torch.logsumexp(joint.double(), -1) - log_z


def integrated_log_likelihood(model, x: torch.Tensor, points: int = 4001) -> torch.Tensor:
    """log p(x) = log int p(x|z) N(z; 0, 1) dz for a one-dimensional Gaussian code, by the trapezoid rule on
    [-8, 8]."""
    z = torch.linspace(-8, 8, points).unsqueeze(-1)
    with torch.no_grad():
        joint = model.decoder.log_prob(x, z.expand(len(x), -1, -1)) + model.prior.unnormalised_log_prob(z)
    return torch.logsumexp(joint.double(), -1) + math.log(16 / (points - 1))


@pytest.mark.parametrize("kind", ["factorised", "rbm", "gaussian"])
def test_each_peers_importance_estimate_reaches_the_exact_log_likelihood(kind):
    model = trained_like(SPECS[kind], seed=1)
    x = every_image(IMAGE.shape)[::37]
    exact = integrated_log_likelihood(model, x) if kind == "gaussian" else exact_log_likelihood(model, x)
    if kind == "factorised":  # normalised: the exact sum over codes is the whole log-likelihood
        assert torch.logsumexp(exact_log_likelihood(model, every_image(IMAGE.shape)), 0) == pytest.approx(0, abs=1e-5)
    ais = {"runs": 200, "schedule": [[0.5, 300], [1.0, 700]]}
    estimate = model.log_likelihood(x, K=4000, ais=ais, generator=torch.Generator().manual_seed(2))
    per_image = torch.as_tensor(estimate.per_image)
    assert (per_image - exact).abs().max().item() < 0.05, (per_image, exact)
