"""softplus(y) = log(1 + exp(y)) = relu(y) + log(1 + exp(-|y|)), fast on the CPU.

On the CPU torch's own `softplus`, `logsigmoid` and `log1p` (and so binary cross-entropy with logits) run
element by element, and its `exp` and `log` are about half as fast as numpy's SIMD ones. Here the
transcendental part, log(1 + exp(t)) for t = -|y| <= 0, runs in place through numpy on CPU tensors (torch
elsewhere): the same function to float rounding, with its exact derivative sigmoid(y).
`torch.nn.functional.softplus` stays the plain twin: the tests hold one against the other, and exact
enumeration keeps torch's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def numpy_view(t: torch.Tensor) -> np.ndarray | None:
    """t's memory as a numpy array where numpy's SIMD passes can work on it in place (a contiguous float CPU
    tensor), else None."""
    if t.device.type == "cpu" and t.is_contiguous() and t.dtype in (torch.float32, torch.float64):
        return t.detach().numpy()
    return None


def in_place(t: torch.Tensor, numpy_pass: np.ufunc, torch_pass: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """t <- f(t) in place by numpy's ufunc where it can work on t's memory, else by torch's in-place method."""
    values = numpy_view(t)
    if values is None:
        return torch_pass(t)
    numpy_pass(values, out=values)
    return t


def exp_(t: torch.Tensor) -> torch.Tensor:
    """t <- exp(t) in place; no autograd."""
    return in_place(t, np.exp, torch.Tensor.exp_)


def log_(t: torch.Tensor) -> torch.Tensor:
    """t <- log(t) in place; no autograd."""
    return in_place(t, np.log, torch.Tensor.log_)


def logsumexp_(t: torch.Tensor) -> torch.Tensor:
    """log sum exp over the last axis of finite values, t overwritten; no autograd. torch's logsumexp, over so
    short an axis as a mixture's, spends most of its time in its own exp and log."""
    top = t.amax(-1, keepdim=True)
    return log_(exp_(t.sub_(top)).sum(-1)).add_(top.squeeze(-1))


def log1p_exp_(t: torch.Tensor) -> torch.Tensor:
    """t <- log(1 + exp(t)) in place, for t <= 0 (exp cannot overflow); no autograd."""
    values = numpy_view(t)
    if values is None:
        return t.exp_().log1p_()
    np.log1p(np.exp(values, out=values), out=values)
    return t


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
