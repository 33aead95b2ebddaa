"""The vectorised ELU, exp, log and logsumexp against torch's own, and the strided nearest upsampling against
nn.Upsample: values and gradients agree to float rounding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from binlatent.convnets import NearestUpsample
from binlatent.elu import elu
from binlatent.softplus import exp_, log_, logsumexp_

WIDE = torch.cat([torch.linspace(-120, 80, 4001), torch.tensor([0.0, -0.0, 1e-30, -1e-30, -88.7])])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_elu_matches_torch_in_value_and_gradient(dtype):
    h = WIDE.to(dtype).requires_grad_()
    ours = elu(h)
    reference = F.elu(h.detach().double())
    tolerance = 2e-7 if dtype == torch.float32 else 1e-15
    assert torch.allclose(ours.double(), reference, rtol=tolerance, atol=tolerance)
    (gradient,) = torch.autograd.grad(ours.sum(), h)  # from the output: exact to its rounding near -1
    exact = torch.where(h.detach() > 0, 1.0, h.detach().double().exp())
    assert torch.allclose(gradient.double(), exact, rtol=tolerance, atol=tolerance)


def test_elu_of_a_strided_view_matches_torch(generator):
    h = torch.randn(4, 6, 5, generator=generator).transpose(0, 2)
    assert torch.allclose(elu(h), F.elu(h), atol=2e-7)


@pytest.mark.parametrize("contiguous", [True, False])
def test_exp_log_and_logsumexp_in_place_match_torch(generator, contiguous):
    t = torch.randn(30, 10, generator=generator) * 20
    view = t if contiguous else t.T
    assert torch.allclose(exp_(view.clone(memory_format=torch.preserve_format)), view.exp(), rtol=2e-7)
    positive = view.abs() + 1e-3
    assert torch.allclose(log_(positive.clone(memory_format=torch.preserve_format)), positive.log(), rtol=2e-7)
    assert torch.allclose(logsumexp_(view.clone()), torch.logsumexp(view, -1), rtol=2e-7, atol=1e-6)


def test_nearest_upsample_matches_torch_in_value_and_gradient(generator):
    x = torch.randn(3, 4, 5, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    ours, reference = NearestUpsample()(x), torch.nn.Upsample(scale_factor=2, mode="nearest")(x)
    assert ours.shape == (3, 4, 10, 12) and torch.equal(ours, reference)
    weights = torch.randn(ours.shape, generator=generator, dtype=torch.float64)
    assert torch.allclose(*(torch.autograd.grad((y * weights).sum(), x)[0] for y in (ours, reference)))
