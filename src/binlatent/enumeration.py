"""Exact quantities of an RBM by enumerating every state of its smaller layer (tests, and RBMs small enough)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from binlatent.rbm import RBM

MAX_ENUMERATION_UNITS = 25
EPOCH_ENUMERATION_UNITS = 20  # per-epoch scores enumerate only up to here: 2^25 states take minutes each time


def all_binary_states(n: int, start: int, stop: int, dtype=torch.float64) -> torch.Tensor:
    """Binary vectors of integers start..stop-1, shape (stop - start, n)."""
    codes = torch.arange(start, stop, dtype=torch.int64).unsqueeze(1)
    return ((codes >> torch.arange(n, dtype=torch.int64)) & 1).to(dtype)


def exact_log_z(rbm: RBM, chunk: int = 1 << 16) -> float:
    """log Z by summing over every state of the smaller layer, in chunks of `chunk` states."""
    W, a, b = (p.detach().double().cpu() for p in (rbm.W, rbm.a, rbm.b))
    if W.shape[0] > W.shape[1]:  # enumerate hidden states: swap the roles of the layers
        W, a, b = W.T, b, a
    n = W.shape[0]
    if n > MAX_ENUMERATION_UNITS:
        raise ValueError(f"exact log Z needs a layer of at most {MAX_ENUMERATION_UNITS} units, got {n}")
    parts = []
    for start in range(0, 2**n, chunk):
        s = all_binary_states(n, start, min(start + chunk, 2**n))
        parts.append(torch.logsumexp(s @ a + F.softplus(s @ W + b).sum(-1), 0))
    return float(torch.logsumexp(torch.stack(parts), 0))


def exact_visible_distribution(rbm: RBM) -> tuple[torch.Tensor, torch.Tensor]:
    """All visible states (2^n_visible, n_visible) and their exact probabilities (float64)."""
    n = rbm.n_visible
    if n > MAX_ENUMERATION_UNITS:
        raise ValueError(f"exact distribution needs at most {MAX_ENUMERATION_UNITS} visible units, got {n}")
    W, a, b = (p.detach().double().cpu() for p in (rbm.W, rbm.a, rbm.b))
    states = all_binary_states(n, 0, 2**n)
    return states, torch.softmax(states @ a + F.softplus(states @ W + b).sum(-1), 0)


def exact_log_likelihood(rbm: RBM, v: torch.Tensor) -> float:
    """Mean exact log p(v) over the rows of v."""
    with torch.no_grad():
        return float((-rbm.free_energy(v).double()).mean() - exact_log_z(rbm))
