"""softplus(y) = log(1 + exp(y)) = relu(y) + log(1 + exp(-|y|)), fast on the CPU.

On the CPU torch's own `softplus`, `logsigmoid` and `log1p` (and so binary cross-entropy with logits) run
element by element, and its `exp` and `log` are about half as fast as numpy's SIMD ones. Here the
transcendental part, log(1 + exp(t)) for t = -|y| <= 0, runs in place through numpy on CPU tensors (torch
elsewhere): the same function to float rounding, with its exact derivative sigmoid(y).
`torch.nn.functional.softplus` stays the plain twin: the tests hold one against the other, and exact
enumeration keeps torch's.
"""

from __future__ import annotations

import numpy as np
import torch


def log1p_exp_(t: torch.Tensor) -> torch.Tensor:
    """t <- log(1 + exp(t)) in place, for t <= 0 (exp cannot overflow); no autograd."""
    if t.device.type == "cpu" and t.is_contiguous() and t.dtype in (torch.float32, torch.float64):
        values = t.numpy()
        np.log1p(np.exp(values, out=values), out=values)
        return t
    return t.exp_().log1p_()


class _Softplus(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(y)
        return log1p_exp_(torch.abs(y).neg_()).add_(y.clamp(min=0))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return grad * torch.sigmoid(y)


def softplus(y: torch.Tensor) -> torch.Tensor:
    """log(1 + exp(y)) elementwise, differentiable (d/dy = sigmoid(y))."""
    return _Softplus.apply(y)
