"""The K-sample importance-weighted bound and the encoder's gradient estimators (VIMCO, RWS, reparameterised).

Each `*_surrogate` returns a scalar whose gradient, by autograd, is the estimator's gradient of
the bound averaged over the batch. The RBM's log Z is left out: its gradient, the negative phase,
comes from persistent chains (see `pcd_negative_phase`).
"""

from __future__ import annotations

import math

import torch

from binlatent.rbm import RBM


def log_mean_exp(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    return torch.logsumexp(x, dim) - math.log(x.shape[dim])


def iwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """L_K per example: log (1/K) sum_k w_k for log_w of shape (batch, K)."""
    return log_mean_exp(log_w, -1)


def draw_by_weight(log_w: torch.Tensor, units: torch.Tensor, n: int, generator=None) -> torch.Tensor:
    """n of the K samples per row, drawn with replacement in proportion to exp(log_w): log_w (batch, K), units
    (batch, K, d) -> (batch, n, d)."""
    picks = torch.multinomial(torch.softmax(log_w, -1), n, True, generator=generator)
    return units.gather(1, picks.unsqueeze(-1).expand(-1, -1, units.shape[-1]))


def vimco_baselines(log_w: torch.Tensor) -> torch.Tensor:
    """L_K with w_k replaced by the geometric mean of the other weights (Mnih & Rezende, 2016)."""
    k = log_w.shape[-1]
    if k < 2:
        raise ValueError("VIMCO needs at least K = 2 importance samples")
    others_mean = (log_w.sum(-1, keepdim=True) - log_w) / (k - 1)  # (batch, K)
    replaced = log_w.unsqueeze(-1).expand(*log_w.shape, k).clone()  # (batch, K, K): row k replaces w_k
    idx = torch.arange(k, device=log_w.device)
    replaced[..., idx, idx] = others_mean
    return log_mean_exp(replaced, -2)


def vimco_surrogate(log_w: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """VIMCO: the bound (pathwise terms) + sum_k (L_K - L_K^{-k}) log q(z_k|x) (score terms)."""
    bound = iwae_bound(log_w)
    learning_signal = (bound.unsqueeze(-1) - vimco_baselines(log_w)).detach()  # (batch, K)
    return (bound + (learning_signal * log_q).sum(-1)).mean()


def rws_surrogate(log_w: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """Reweighted wake-sleep: decoder/prior by the bound, encoder by the wake-q update sum_k w~_k log q."""
    normalised = torch.softmax(log_w.detach(), -1)
    bound = iwae_bound(log_w + log_q - log_q.detach())  # bound's gradient, encoder path removed
    return (bound + (normalised * log_q).sum(-1)).mean()


def reparam_surrogate(log_w: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """The bound itself: with reparameterised (Gaussian) codes its gradient is the IWAE estimator."""
    return iwae_bound(log_w).mean()


def exact_surrogate(log_w: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """Maximum likelihood: without a code, log_w (batch, 1) is log p(x) itself."""
    return log_w[:, 0].mean()


ESTIMATORS = {"vimco": vimco_surrogate, "rws": rws_surrogate, "reparam": reparam_surrogate, "exact": exact_surrogate}


def pcd_negative_phase(
    rbm: RBM, chains: torch.Tensor, gibbs_steps: int, generator=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advance persistent chains and return (surrogate, new chains).

    The gradient of surrogate = mean_chains F(v_chain) is -E_model[-grad F], the gradient of -log Z.
    """
    chains = rbm.gibbs(chains, gibbs_steps, generator)
    return rbm.free_energy(chains).mean(), chains
