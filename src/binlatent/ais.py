"""Annealed importance sampling for an RBM's log Z (Salakhutdinov & Murray, 2008).

Intermediate distributions p_beta(v, h) ~ exp((1 - beta) a0.v + beta (a.v + b.h + v^T W h)) run
from the base-rate model (beta = 0: independent visibles with biases a0 fitted to the data,
free hidden units) to the RBM (beta = 1). Marginally,
    log p*_beta(v) = (1 - beta) a0.v + beta a.v + sum_j softplus(beta (b_j + (v^T W)_j)).
Forward AIS starts from exact base samples and gives an estimate of log Z that is stochastically
an underestimate. Reverse annealing (Burda, Grosse & Salakhutdinov, 2015) starts from chains
initialised at data and annealed down to the base model; it estimates log Z from above, so the
log-likelihood it yields is conservative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from binlatent.parallel import n_parts, run_parts, split
from binlatent.progress import Meter
from binlatent.rbm import RBM, base_rate_biases, log_partition_base
from binlatent.sampling import Uniforms, bernoulli
from binlatent.softplus import log1p_exp_


@dataclass
class AISResult:
    """An AIS estimate of log Z with its +/-3 sigma band, the effective sample size of its weights and per-run
    traces."""

    log_z: float
    log_z_low: float  # log(mean w - 3 sigma): -inf when the band reaches zero
    log_z_high: float
    log_weights: np.ndarray  # (n_runs,) final log importance weights
    trace_betas: np.ndarray  # (n_trace,) betas at which the weights were recorded
    trace_log_weights: np.ndarray  # (n_trace, n_runs)
    log_z_base: float

    @property
    def ess(self) -> float:
        """Effective sample size of the weights, (sum w)^2 / sum w^2: n_runs when they are equal, 1 when one run
        carries them all."""
        return effective_sample_size(torch.from_numpy(self.log_weights))

    @property
    def log_se(self) -> float:
        """Standard error of log Z (delta method): the standard error of the mean weight over the mean weight."""
        return relative_se(torch.from_numpy(self.log_weights))


def beta_schedule(intervals: Sequence[Sequence[float]]) -> torch.Tensor:
    """Betas from 0 to 1 given [[end, count], ...]: `count` evenly spaced betas up to each `end`."""
    betas, start = [torch.zeros(1, dtype=torch.float64)], 0.0
    for end, count in intervals:
        if not start < end <= 1.0 or int(count) < 1:
            raise ValueError(f"AIS schedule interval ({start}, {end}] with {count} betas is not valid")
        betas.append(torch.linspace(start, end, int(count) + 1, dtype=torch.float64)[1:])
        start = end
    if start != 1.0:
        raise ValueError(f"AIS schedule must end at beta = 1, ends at {start}")
    return torch.cat(betas)


def log_mean_exp_band(log_w: torch.Tensor, n_sigma: float = 3.0) -> tuple[float, float, float]:
    """log of the mean of exp(log_w), and log(mean +/- n_sigma standard errors), computed in log space."""
    log_w = log_w.double()
    shift = log_w.max()
    w = torch.exp(log_w - shift)
    mean, se = w.mean(), w.std() / math.sqrt(len(w)) if len(w) > 1 else torch.tensor(0.0)
    low = mean - n_sigma * se
    return (
        float(torch.log(mean) + shift),
        float(torch.log(low) + shift) if low > 0 else -math.inf,
        float(torch.log(mean + n_sigma * se) + shift),
    )


def effective_sample_size(log_w: torch.Tensor) -> float:
    """(sum w)^2 / sum w^2 of the weights exp(log_w), computed in log space."""
    log_w = log_w.double()
    return float(torch.exp(2 * torch.logsumexp(log_w, 0) - torch.logsumexp(2 * log_w, 0)))


def relative_se(log_w: torch.Tensor) -> float:
    """Standard error of the mean of exp(log_w) over that mean: the standard error of its log (delta method)."""
    w = torch.exp(log_w.double() - log_w.max())
    return float(w.std() / (math.sqrt(len(w)) * w.mean())) if len(w) > 1 else 0.0


@torch.no_grad()
def anneal(
    rbm: RBM,
    betas: torch.Tensor,
    v: torch.Tensor,
    base_bias: torch.Tensor,
    n_trace: int = 200,
    generator=None,
    what: str = "AIS",
) -> tuple[torch.Tensor, np.ndarray, np.ndarray, torch.Tensor]:
    """Run AIS chains from states v ~ p_{betas[0]} through betas; return log weights (float64), the traced betas
    and weights, and each run's final state. Inside a `progress.reported` call, the steps are logged as `what`.

    E[exp(log_w)] = Z_{betas[-1]} / Z_{betas[0]}. The runs are independent: on a CPU with several
    torch threads they are split into one group per thread, each annealed by its own single-threaded
    stream with its own uniforms (see binlatent.parallel); a group's runs advance together as one batch.
    """
    betas_f = betas.tolist()
    n_runs, (n_visible, n_hidden) = v.shape[0], rbm.W.shape
    trace_at = np.linspace(1, len(betas_f) - 1, min(n_trace, len(betas_f) - 1)).round().astype(int)
    trace_row = {k: i for i, k in enumerate(trace_at.tolist())}
    trace = np.empty((len(trace_row), n_runs))
    log_w = torch.empty(n_runs, dtype=torch.float64, device=rbm.W.device)
    final = torch.empty(n_runs, n_visible, dtype=rbm.W.dtype, device=rbm.W.device)
    parts = n_parts(rbm.W.device, n_runs, n_visible * n_hidden)
    groups = split(n_runs, parts)
    uniforms = [Uniforms(generator, rbm.W.device, rbm.W.dtype) for _ in groups]  # seeded here, in order
    meter = Meter(f"{what} ({n_runs:,} runs)", len(betas_f) - 1, "steps")  # advanced by the first group

    def run(i: int) -> None:
        rows = groups[i]
        log_w[rows], final[rows] = anneal_group(rbm, betas_f, v[rows], base_bias, trace_row, trace[:, rows],
                                                uniforms[i], meter if i == 0 else None)  # fmt: skip

    run_parts(run, parts)
    trace_betas = np.asarray([betas_f[k] for k in trace_row])
    return log_w, trace_betas, trace if len(trace_row) else np.asarray([]), final


def anneal_group(
    rbm: RBM,
    betas: list[float],
    v: torch.Tensor,
    base_bias: torch.Tensor,
    trace_row: dict[int, int],
    trace: np.ndarray,
    uniforms: Uniforms,
    meter: Meter | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Anneal the runs v (n_runs, n_visible) through `betas`; log weights (float64), traced into trace[trace_row[k]],
    and the runs' final states; each step advances `meter` where given.

    Each step costs two matmuls (v W and h W^T); every other operation runs in place on buffers
    allocated once, since fresh tensors of this size each step cost more in page faults than the arithmetic.
    """
    W, a, b = rbm.W.detach(), rbm.a.detach(), rbm.b.detach()
    base_bias = base_bias.to(W)
    delta_a = a - base_bias
    n_runs, (n_visible, n_hidden) = v.shape[0], W.shape
    kw = {"dtype": W.dtype, "device": W.device}
    v = v.to(**kw).clone()  # (n_runs, n_visible) chain state, overwritten in place each step
    x = torch.empty(n_runs, n_hidden, **kw)  # v W + b, then beta (v W + b), then p_k(h|v)
    magnitude = torch.empty(n_runs, n_hidden, **kw)  # |x|, then relu(x)
    log_term = torch.empty(n_runs, n_hidden, **kw)  # log(1 + exp(-beta |x|)), then the step's difference
    log_term_prev = torch.empty(n_runs, n_hidden, **kw)  # log(1 + exp(-beta_prev |x|))
    h = torch.empty(n_runs, n_hidden, **kw)
    logits_v = torch.empty(n_runs, n_visible, **kw)
    u = torch.empty(n_runs * (n_hidden + n_visible), **kw)  # one draw per unit and step
    u_h, u_v = (part.view(n_runs, -1) for part in u.split([n_runs * n_hidden, n_runs * n_visible]))
    bias_v = torch.empty(n_visible, **kw)  # (1 - beta) a0 + beta a
    step = torch.empty(n_runs, **kw)
    field = torch.empty(n_runs, **kw)  # v . (a - a0)
    log_w = torch.zeros(n_runs, dtype=torch.float64, device=W.device)
    for k in range(1, len(betas)):
        beta, beta_prev = betas[k], betas[k - 1]
        torch.addmm(b, v, W, out=x)  # v W + b, (n_runs, n_hidden)
        # log p*_k(v) - log p*_{k-1}(v) = sum_j [softplus(beta x_j) - softplus(beta_prev x_j)] + (beta - beta_prev)
        # v.(a - a0), with softplus(c x) = c relu(x) + log(1 + exp(-c |x|)) for c >= 0; the difference is formed
        # elementwise before the sum so that float32 keeps its precision
        torch.abs(x, out=magnitude)
        log1p_exp_(torch.mul(magnitude, -beta, out=log_term))
        log1p_exp_(torch.mul(magnitude, -beta_prev, out=log_term_prev))
        log_term.sub_(log_term_prev).add_(torch.clamp(x, min=0, out=magnitude), alpha=beta - beta_prev)
        x.mul_(beta)
        torch.sum(log_term, dim=-1, out=step).add_(torch.mv(v, delta_a, out=field), alpha=beta - beta_prev)
        log_w.add_(step)
        if k in trace_row:
            trace[trace_row[k]] = log_w.cpu().numpy()
        # transition T_k leaves p_k invariant: h ~ p_k(h|v), v ~ p_k(v|h)
        uniforms.fill_(u)
        torch.lt(u_h, x.sigmoid_(), out=h)
        torch.mul(base_bias, 1 - beta, out=bias_v).add_(a, alpha=beta)
        torch.addmm(bias_v, h, W.T, alpha=beta, out=logits_v).sigmoid_()
        torch.lt(u_v, logits_v, out=v)
        if meter is not None:
            meter.advance(1, "beta %.3f", beta)
    return log_w, v


def base_model_runs(rbm: RBM, data: torch.Tensor, n_runs: int, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The biases of the base-rate model fitted to `data` (n, n_visible), and n_runs exact draws from it: where
    forward AIS starts."""
    base_bias = base_rate_biases(data.cpu()).to(rbm.W.device)
    return base_bias, bernoulli(torch.sigmoid(base_bias).expand(n_runs, -1).contiguous(), generator)


def ais_log_z(
    rbm: RBM,
    data: torch.Tensor,
    schedule: Sequence[Sequence[float]],
    n_runs: int = 100,
    n_trace: int = 200,
    generator=None,
) -> AISResult:
    """Forward AIS estimate of log Z from the base-rate model fitted to `data` (n, n_visible)."""
    base_bias, v0 = base_model_runs(rbm, data, n_runs, generator)
    log_w, trace_betas, trace, _ = anneal(rbm, beta_schedule(schedule), v0, base_bias, n_trace, generator)
    log_z_base = log_partition_base(base_bias, rbm.n_hidden)
    mean, low, high = log_mean_exp_band(log_w)
    return AISResult(
        log_z_base + mean,
        log_z_base + low,
        log_z_base + high,
        log_w.cpu().numpy(),
        trace_betas,
        trace,
        log_z_base,
    )


@torch.no_grad()
def ais_samples(
    rbm: RBM, data: torch.Tensor, schedule: Sequence[Sequence[float]], n: int, n_runs: int, generator=None
) -> tuple[torch.Tensor, float]:
    """n states (n, n_visible) drawn from the final states of forward AIS runs (from the base-rate model fitted to
    `data`) in proportion to their importance weights, with the weights' effective sample size.

    This is a sequential Monte Carlo sampler: as the runs grow, the draws' law tends to the RBM's, and each mode is
    reached about in proportion to its mass, where Gibbs chains from random starts stay in the modes they first
    fall into. Fewer distinct runs than n (a small ESS) repeat states; Gibbs sweeps after it separate them.
    """
    base_bias, v0 = base_model_runs(rbm, data, n_runs, generator)
    log_w, _, _, final = anneal(rbm, beta_schedule(schedule), v0, base_bias, 1, generator)
    weights = torch.softmax(log_w, 0)
    picks = torch.multinomial(weights, n, replacement=True, generator=generator)
    return final[picks], effective_sample_size(log_w)


def raise_log_prob(
    rbm: RBM,
    v: torch.Tensor,
    base_data: torch.Tensor,
    schedule: Sequence[Sequence[float]],
    generator=None,
) -> torch.Tensor:
    """RAISE (Burda, Grosse & Salakhutdinov, 2015): a stochastic lower bound on log p(v) per row of v.

    The annealing model draws x_0 from the base-rate model (fitted to `base_data`) and applies
    T_1 .. T_K; its marginal p_ann approximates the RBM. A chain run backwards from each v gives the
    unbiased estimate w of p_ann(v):
        log w = log p*_1(v) - log Z_0 + sum_k [log p*_{k}(x_k) - log p*_{k+1}(x_k)],
    with x_{K-1} = T_K(v) and x_{k-1} = T_k(x_k). So E[log w] <= log p_ann(v): a conservative
    estimate that needs no log Z. Returns log w, shape (n,), float64.
    """
    base_bias = base_rate_biases(base_data.cpu()).to(rbm.W.device)
    betas = beta_schedule(schedule).flip(0)  # 1 -> 0
    v = v.to(rbm.W)
    with torch.no_grad():
        start = rbm.gibbs(v, 1, generator)  # x_{K-1} = T_K(v), the transition at beta = 1
        log_target = -rbm.free_energy(v).double()
    log_w, _, _, _ = anneal(rbm, betas, start, base_bias, 1, generator, "RAISE")
    return log_target - log_partition_base(base_bias, rbm.n_hidden) + log_w
