"""The information the code carries, E_q[log q(z|x) - log p(z)], against cases with known answers."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import SMALL_NETWORK, built_model

from binlatent.image import ImageFormat
from binlatent.rate import code_nats
from binlatent.variants import ModelSpec

SPEC = ModelSpec("factorised", "factorised", True, False, "vimco", 3, 0, 1e-3, network=SMALL_NETWORK)
NETWORK = {"kind": "mlp", "n_latent": 6, "hidden": [8], "activation": "tanh"}


def model_with_code_logits(bias: torch.Tensor):
    """A factorised-prior model with uniform prior whose encoder gives every image the code logits `bias`."""
    model = built_model(SPEC, ImageFormat((3, 3), "binary"), NETWORK)
    with torch.no_grad():
        for p in model.prior.parameters():
            p.zero_()  # p(z_i = 1) = 1/2
        last = model.encoder.net[-1]
        last.weight.zero_()
        last.bias.copy_(bias)
    return model


@pytest.mark.parametrize(("bias", "nats"), [(torch.zeros(6), 0.0), (torch.full((6,), 30.0), 6 * math.log(2))])
def test_the_code_carries_nothing_when_q_is_the_prior_and_n_ln2_when_it_is_certain(bias, nats, generator):
    x = (torch.rand(40, 9, generator=generator) < 0.5).float()
    mean, se = code_nats(model_with_code_logits(bias), x, log_z=0.0, generator=generator)
    assert mean == pytest.approx(nats, abs=1e-5) and se == pytest.approx(0.0, abs=1e-5)


def test_the_code_nats_add_log_z_and_average_over_samples(generator):
    x = (torch.rand(40, 9, generator=generator) < 0.5).float()
    model = model_with_code_logits(torch.tensor([2.0, -1.0, 0.0, 0.5, 3.0, -2.0]))
    mean, se = code_nats(model, x, log_z=1.5, k=4000, generator=generator)
    q = torch.sigmoid(torch.tensor([2.0, -1.0, 0.0, 0.5, 3.0, -2.0], dtype=torch.float64))
    kl = (q * torch.log(2 * q) + (1 - q) * torch.log(2 * (1 - q))).sum()  # KL(q || uniform), the same for every x
    assert mean == pytest.approx(float(kl) + 1.5, abs=0.02) and se < 0.01
