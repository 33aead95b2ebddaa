"""elu(h) = h for h > 0, exp(h) - 1 otherwise, fast on the CPU.

On the CPU torch's own `elu` runs element by element (about 10 ns per element here) and its `exp` at a sixth of
numpy's speed. Here elu(h) = max(h, exp(min(h, 0)) - 1) takes four vectorised passes, the exp through numpy
(softplus.exp_), about 0.8 ns per element, with its exact derivative from the output alone (1 for h > 0,
exp(h) = elu(h) + 1 otherwise). `torch.nn.functional.elu` stays the plain twin: the tests hold one
against the other.
"""

from __future__ import annotations

import torch
from torch import nn

from binlatent.softplus import exp_


def elu_into(out: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """out <- elu(h), without autograd; out may not be h."""
    exp_(torch.clamp(h, max=0, out=out)).sub_(1)
    return torch.maximum(out, h, out=out)


class _ELU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h: torch.Tensor) -> torch.Tensor:
        out = elu_into(torch.empty_like(h, memory_format=torch.contiguous_format), h)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (out,) = ctx.saved_tensors
        return grad * out.clamp(max=0).add_(1)


def elu(h: torch.Tensor) -> torch.Tensor:
    """elu(h) elementwise, differentiable."""
    return _ELU.apply(h)


class ELU(nn.Module):
    """nn.ELU's module, computed by `elu`."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return elu(h)
