"""Restricted Boltzmann machine over binary visible units v (the latent code z) and hidden units h.

Energy E(v, h) = -a.v - b.h - v^T W h; free energy F(v) = -a.v - sum_j softplus(b_j + (v^T W)_j);
p(v) = exp(-F(v)) / Z. Parameters are float32; log-probabilities accumulate in float64.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from binlatent.softplus import softplus


class RBM(nn.Module):
    """Binary-binary RBM with weights W (n_visible, n_hidden), visible bias a, hidden bias b."""

    def __init__(self, n_visible: int, n_hidden: int, weight_scale: float = 0.01, generator=None):
        super().__init__()
        self.W = nn.Parameter(torch.randn(n_visible, n_hidden, generator=generator) * weight_scale)
        self.a = nn.Parameter(torch.zeros(n_visible))
        self.b = nn.Parameter(torch.zeros(n_hidden))

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> RBM:
        """An RBM of the saved state's sizes with its weights."""
        rbm = cls(*state["W"].shape)
        rbm.load_state_dict(state)
        return rbm

    @property
    def n_visible(self) -> int:
        return self.W.shape[0]

    @property
    def n_hidden(self) -> int:
        return self.W.shape[1]

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) for v of shape (..., n_visible); returns shape (...)."""
        return -(v @ self.a) - softplus(v @ self.W + self.b).sum(-1)

    def hidden_probs(self, v: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(v @ self.W + self.b)

    def visible_probs(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(h @ self.W.T + self.a)

    @torch.no_grad()
    def gibbs(self, v: torch.Tensor, steps: int, generator=None) -> torch.Tensor:
        """Run `steps` sweeps of block Gibbs sampling v -> h -> v."""
        for _ in range(steps):
            h = bernoulli(self.hidden_probs(v), generator)
            v = bernoulli(self.visible_probs(h), generator)
        return v

    @torch.no_grad()
    def init_from_data_marginals(self, v: torch.Tensor) -> None:
        """Set the visible biases to the log-odds of the data marginals (Hinton's practical guide)."""
        self.a.copy_(base_rate_biases(v))


def bernoulli(probs: torch.Tensor, generator=None) -> torch.Tensor:
    """Binary sample with the given probabilities, same dtype as `probs`."""
    return (torch.rand(probs.shape, generator=generator, dtype=probs.dtype, device=probs.device) < probs).to(
        probs.dtype
    )


class Uniforms:
    """In-place U[0, 1) fills from a random stream seeded by a torch generator.

    On the CPU (float32, float64) the stream is numpy's PCG64DXSM, seeded from `generator`, its raw 64-bit words
    turned into uniforms by whole-array shifts and one scaling: k 2^-24 from the top 24 bits of each 32-bit half
    (float32) or k 2^-53 from the top 53 bits (float64), the values numpy's own `random` gives from the same words
    one at a time, at a third less time per value and at about a third of the time of torch's serial mt19937
    `uniform_`. Each part of a row-split computation gets a stream of its own. Elsewhere `generator` fills
    directly.
    """

    def __init__(self, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype):
        self.generator, self.bits = generator, None
        if device.type == "cpu" and dtype in (torch.float32, torch.float64):
            seed = int(torch.randint(2**62, (1,), generator=generator))
            self.bits = np.random.PCG64DXSM(seed)

    def fill_(self, t: torch.Tensor) -> torch.Tensor:
        """Fill the contiguous tensor t in place; returns t."""
        if self.bits is None:
            return t.uniform_(generator=self.generator)
        out = t.numpy().reshape(-1)
        if out.dtype == np.float32:
            words = self.bits.random_raw((out.size + 1) // 2).view(np.uint32)[: out.size]
            shift, scale = 8, np.float32(2.0**-24)
        else:
            words, shift, scale = self.bits.random_raw(out.size), 11, 2.0**-53
        np.right_shift(words, shift, out=words)
        out[...] = words  # exact: fewer significant bits than the float's mantissa
        np.multiply(out, scale, out=out)
        return t


def base_rate_biases(v: torch.Tensor, smoothing: float = 0.05) -> torch.Tensor:
    """Log-odds of the smoothed marginals of binary data v (n, d): the base-rate model's biases."""
    n = v.shape[0]
    p = (v.double().sum(0) + smoothing) / (n + 2 * smoothing)
    return torch.log(p / (1 - p)).float()


# ---------------------------------------------------------------------------------------------
# Training: CD-k and PCD, fused in-place updates (the hot loop of stage two and the benchmark)
# ---------------------------------------------------------------------------------------------


class PCDState:
    """Persistent hidden-layer chains, momentum buffers and preallocated work arrays of one RBM's training."""

    def __init__(self, rbm: RBM, n_chains: int, generator=None):
        with torch.no_grad():
            self.chains = bernoulli(
                torch.full((n_chains, rbm.n_hidden), 0.5, dtype=rbm.W.dtype, device=rbm.W.device), generator
            )
        self.velocity_W = torch.zeros_like(rbm.W, requires_grad=False)
        self.velocity_a = torch.zeros_like(rbm.a, requires_grad=False)
        self.velocity_b = torch.zeros_like(rbm.b, requires_grad=False)
        self._work: dict[str, torch.Tensor] = {}
        self._batch = -1

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: getattr(self, k) for k in ("chains", "velocity_W", "velocity_a", "velocity_b")}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for k, v in state.items():
            getattr(self, k).copy_(v)

    def workspace(self, n: int) -> dict[str, torch.Tensor]:
        """Buffers for a batch of n rows, allocated once: fresh megabyte tensors each step cost page faults."""
        if n != self._batch:
            m, (nv, nh) = self.chains.shape[0], self.velocity_W.shape
            kw = {"device": self.chains.device, "dtype": self.chains.dtype}
            self._work = {
                "v": torch.empty(n + m, nv, **kw),  # rows: data batch, then negative samples
                "h": torch.empty(n + m, nh, **kw),  # rows: p(h|data), then -(n/m) p(h|negatives)
                "u_v": torch.empty(m, nv, **kw),
                "u_h": torch.empty(m, nh, **kw),
                "row_weights": torch.cat([torch.ones(n, **kw), torch.full((m,), -n / m, **kw)]),
            }
            self._batch = n
        return self._work

    def batch(self, n: int) -> torch.Tensor:
        """The (n, n_visible) buffer contrastive_step reads a batch of n rows from: gather into it to save a copy."""
        return self.workspace(n)["v"][:n]


@torch.no_grad()
def contrastive_step(
    rbm: RBM,
    v_data: torch.Tensor,
    state: PCDState,
    k: int = 1,
    persistent: bool = True,
    lr: float = 0.01,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    generator=None,
) -> torch.Tensor:
    """One CD-k (persistent=False) or PCD-k update of `rbm` on the batch `v_data` (n, n_visible).

    Positive statistics use p(h|v_data); the negative sample runs k Gibbs sweeps from the
    persistent hidden chains (PCD) or from h ~ p(h|v_data) (CD, which then needs as many chains as
    rows). The work arrays stack the data rows over the negative rows, so that PCD's last sweep
    computes p(h|v) of data and negatives in one matmul, and the gradient <v h>_data - <v h>_model
    goes into W with one more, the negative rows of h signed and scaled by n/m. Every other
    operation is elementwise or a reduction over the batch, left to torch's intra-op threads.
    Returns the negative visible sample (m, n_visible).
    """
    W, a, b = rbm.W.detach(), rbm.a.detach(), rbm.b.detach()
    n, m = v_data.shape[0], state.chains.shape[0]
    if not persistent and m != n:
        raise ValueError(f"CD needs one chain per data row: {m} chains for a batch of {n}")
    work = state.workspace(n)
    v_all, h_all, u_v, u_h = work["v"], work["h"], work["u_v"], work["u_h"]
    v_pos, v_neg, pos_h, neg_h = v_all[:n], v_all[n:], h_all[:n], h_all[n:]
    draw, h = Uniforms(generator, W.device, W.dtype).fill_, state.chains
    if v_data.data_ptr() != v_pos.data_ptr():  # callers may gather the batch straight into state.batch(n)
        v_pos.copy_(v_data)
    if not persistent:
        torch.addmm(b, v_pos, W, out=pos_h).sigmoid_()
        torch.lt(draw(u_h), pos_h, out=h)
    for sweep in range(k):
        torch.addmm(a, h, W.T, out=v_neg).sigmoid_()
        torch.lt(draw(u_v), v_neg, out=v_neg)  # (m, n_visible) binary
        both = persistent and sweep == k - 1  # the data rows' p(h|v) rides along with the last sweep
        rows = slice(None) if both else slice(n, None)
        torch.addmm(b, v_all[rows], W, out=h_all[rows]).sigmoid_()
        torch.lt(draw(u_h), neg_h, out=h)
    neg_h.mul_(-n / m)

    scale, decay = lr / n, 1 - lr * weight_decay
    grad_a = torch.mv(v_all.T, work["row_weights"])  # sum of data rows - (n/m) sum of negative rows
    grad_b = h_all.sum(0)
    if momentum:  # vel <- momentum vel + step (inside the matmul); W <- decay W + vel (one pass over W)
        state.velocity_W.addmm_(v_all.T, h_all, beta=momentum, alpha=scale)
        state.velocity_a.mul_(momentum).add_(grad_a, alpha=scale)
        state.velocity_b.mul_(momentum).add_(grad_b, alpha=scale)
        torch.add(state.velocity_W, W, alpha=decay, out=W)
        a.add_(state.velocity_a)
        b.add_(state.velocity_b)
    else:  # W <- decay W + step, in the matmul
        W.addmm_(v_all.T, h_all, beta=decay, alpha=scale)
        a.add_(grad_a, alpha=scale)
        b.add_(grad_b, alpha=scale)
    return v_neg


def contrastive_gradient(rbm: RBM, v_pos: torch.Tensor, v_neg: torch.Tensor) -> dict[str, torch.Tensor]:
    """<dlogp/dtheta>: positive statistics of v_pos minus negative statistics of v_neg."""
    with torch.no_grad():
        ph, nh = rbm.hidden_probs(v_pos), rbm.hidden_probs(v_neg)
        return {
            "W": v_pos.T @ ph / len(v_pos) - v_neg.T @ nh / len(v_neg),
            "a": v_pos.mean(0) - v_neg.mean(0),
            "b": ph.mean(0) - nh.mean(0),
        }


def reconstruction_error(rbm: RBM, v: torch.Tensor) -> float:
    """Mean squared error of the one-step mean-field reconstruction v -> p(h|v) -> p(v|h)."""
    with torch.no_grad():
        return float(((rbm.visible_probs(rbm.hidden_probs(v)) - v) ** 2).sum(-1).mean())


# ---------------------------------------------------------------------------------------------
# Exact quantities by enumeration of the smaller layer (tests and small RBMs)
# ---------------------------------------------------------------------------------------------

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


def log_partition_base(base_bias: torch.Tensor, n_hidden: int) -> float:
    """log Z of the base-rate model: independent visibles with biases a0, free hidden units."""
    return float(F.softplus(base_bias.double()).sum()) + n_hidden * math.log(2.0)
