"""Training an RBM by contrastive divergence: CD-k and PCD, a fused in-place update (the hot loop of stage two and
the benchmark) beside the textbook gradient it is tested against."""

from __future__ import annotations

import torch

from binlatent.rbm import RBM
from binlatent.sampling import Uniforms, bernoulli


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
