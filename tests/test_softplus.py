"""The vectorised softplus against torch's own: values and gradients agree to float rounding, over the whole range."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from binlatent.likelihoods import bernoulli_log_prob
from binlatent.softplus import softplus

WIDE = torch.cat([torch.linspace(-120, 120, 4001), torch.tensor([0.0, -0.0, 1e-30, -1e-30, 88.7, -88.7, 200.0])])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_softplus_matches_torch_in_value_and_gradient(dtype):
    y = WIDE.to(dtype).requires_grad_()
    ours = softplus(y)
    reference = F.softplus(y.detach().double(), threshold=1000)
    tolerance = 2e-7 if dtype == torch.float32 else 1e-15
    assert torch.allclose(ours.double(), reference, rtol=tolerance, atol=tolerance)
    (gradient,) = torch.autograd.grad(ours.sum(), y)
    assert torch.allclose(gradient.double(), torch.sigmoid(y.detach().double()), rtol=tolerance, atol=tolerance)


def test_bernoulli_log_prob_matches_binary_cross_entropy(generator):
    logits = torch.randn(7, 5, 300, generator=generator) * 8
    x = (torch.rand(7, 1, 300, generator=generator) < 0.4).float()
    ours = bernoulli_log_prob(logits, x)
    broadcast_logits, broadcast_x = torch.broadcast_tensors(logits, x)
    reference = -F.binary_cross_entropy_with_logits(broadcast_logits, broadcast_x, reduction="none").sum(-1)
    assert ours.shape == (7, 5) and torch.allclose(ours, reference, rtol=1e-6, atol=1e-4)
