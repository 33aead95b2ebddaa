"""The RBM prior of any depth: one RBM over the code, or a stack of RBMs trained greedily, one layer at a time, used
as a deep belief net.

Layers h_0 = z (the code), h_1, ..., h_L with sizes `[n_latent, *n_hidden]`. As in a DBN (Hinton, Osindero &
Teh 2006), the top two layers form an RBM over (h_{L-1}, h_L), and each layer below is a directed sigmoid layer

    p(h_{l-1} | h_l) = prod_i Bernoulli(sigmoid(W_l h_l + a_l)_i),   l = 1 .. L-1,

so p(z) = sum_{h_1..h_{L-1}} prod_l p(h_{l-1}|h_l) exp(-F_top(h_{L-1})) / Z_top. Recognition layers
q(h_l | h_{l-1}) = prod_j Bernoulli(sigmoid(R_l h_{l-1} + c_l)_j) give importance samples of the upper layers.
Both start from the greedily trained RBMs (W_l, a_l from RBM l's downward pass, R_l = W_l^T, c_l = b_l from its
upward pass) and are untied in fine-tuning. One layer (L = 1) is the plain RBM prior p(z) = exp(-F(z)) / Z.

For L > 1 log p(z) is not tractable, so the prior gives an importance-weighted estimate of p*(z) = p(z) Z_top instead
(`importance_log_prob`); it is exact for one layer. Tiny stacks are enumerated exactly (`exact_log_prob`,
`exact_variational_bound`), which the tests compare the estimators with.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from binlatent.ais import ais_samples, raise_log_prob
from binlatent.enumeration import MAX_ENUMERATION_UNITS, all_binary_states, exact_visible_distribution
from binlatent.estimators import pcd_negative_phase
from binlatent.likelihoods import bernoulli_log_prob
from binlatent.priors.base import Codes, Prior
from binlatent.priors.log_z import LogZ, LogZSettings, rbm_log_z
from binlatent.rbm import RBM
from binlatent.sampling import bernoulli

log = logging.getLogger("binlatent")


def chain_starts(
    rbm: RBM,
    n: int,
    base_data: Codes | None = None,
    ais: Mapping[str, Any] | None = None,
    generator=None,
) -> torch.Tensor:
    """Where n sampling chains of `rbm` start: uniformly random states; or, with `ais` ({'runs_per_sample',
    'schedule'}), AIS runs from the base-rate model fitted to `base_data()` drawn in proportion to their weights
    (`ais.ais_samples`), which reach a peaked RBM's modes about as often as its law does."""
    if not ais:
        return bernoulli(torch.full((n, rbm.n_visible), 0.5, device=rbm.W.device), generator)
    runs = n * int(ais["runs_per_sample"])
    states, ess = ais_samples(rbm, base_data(), ais["schedule"], n, runs, generator)
    log.info("sampling chains start from %d AIS runs drawn by weight (effective sample size %.1f)", runs, ess)
    return states


class RBMPrior(Prior):
    """An RBM over the code, or a DBN: directed sigmoid layers below a top RBM, with recognition layers going up.
    log Z (of the top RBM) is estimated apart, by AIS or exactly, never in training."""

    kind = "rbm"
    normalised = False
    own_step = True

    def __init__(self, n_latent: int, n_hidden: Sequence[int]):
        super().__init__()
        sizes = [n_latent, *n_hidden]
        if len(sizes) < 2:
            raise ValueError("an RBM prior needs at least one hidden layer")
        self.sizes = sizes
        lower = range(1, len(sizes) - 1)  # the layers h_1 .. h_{L-1} below the top RBM's hidden layer
        self.generative = nn.ModuleList(nn.Linear(sizes[i], sizes[i - 1]) for i in lower)  # p(h_{i-1} | h_i)
        self.recognition = nn.ModuleList(nn.Linear(sizes[i - 1], sizes[i]) for i in lower)  # q(h_i | h_{i-1})
        self.top = RBM(sizes[-2], sizes[-1])

    @property
    def n_layers(self) -> int:
        """L: the number of RBMs in the stack."""
        return len(self.sizes) - 1

    def upward(self, z: torch.Tensor, generator=None) -> tuple[list[torch.Tensor], torch.Tensor]:
        """[h_0 = z, h_1, .., h_{L-1}] sampled from the recognition layers, and log q(h_1..h_{L-1} | z), (...)."""
        layers, log_q = [z], torch.zeros(z.shape[:-1], device=z.device)
        for recognition in self.recognition:
            logits = recognition(layers[-1])
            h = bernoulli(torch.sigmoid(logits.detach()), generator)
            layers.append(h)
            log_q = log_q + bernoulli_log_prob(logits, h)
        return layers, log_q

    def directed_log_prob(self, layers: Sequence[torch.Tensor]) -> torch.Tensor:
        """sum_l log p(h_{l-1} | h_l) over the directed layers, shape (...)."""
        total = torch.zeros(layers[0].shape[:-1], device=layers[0].device)
        for i, generative in enumerate(self.generative, start=1):
            total = total + bernoulli_log_prob(generative(layers[i]), layers[i - 1])
        return total

    def importance_log_prob(self, z: torch.Tensor, generator=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(log p*(z, h) - log q(h|z), log q(h|z), h_{L-1}) with h ~ q(h|z) the upper layers: exp of the first is
        an unbiased estimate of p*(z) = p(z) Z_top."""
        layers, log_q = self.upward(z, generator)
        log_joint = self.directed_log_prob(layers) - self.top.free_energy(layers[-1])
        return log_joint - log_q, log_q, layers[-1]

    def unnormalised_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """-F(z) for one layer; a deeper stack has no closed form (see `importance_log_prob`)."""
        if self.n_layers > 1:
            raise NotImplementedError("a deep RBM prior's p*(z) is estimated by importance_log_prob")
        return -self.top.free_energy(z)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        gibbs_steps: int = 0,
        generator=None,
        codes: Codes | None = None,
        ais: Mapping[str, Any] | None = None,
    ) -> torch.Tensor:
        """n codes: `gibbs_steps` sweeps of the top RBM from `chain_starts` (AIS's base model fitted to the base data
        of `codes()`), then down the directed layers."""
        top_data = (lambda: self.base_data(codes(), generator)) if codes else None
        h = self.top.gibbs(chain_starts(self.top, n, top_data, ais, generator), gibbs_steps, generator)
        for generative in reversed(self.generative):
            h = bernoulli(torch.sigmoid(generative(h)), generator)
        return h

    def start_chains(self, n_chains: int, generator=None) -> torch.Tensor:
        """Persistent chains of the top RBM: one Gibbs sweep from all-zero states."""
        return self.top.gibbs(torch.zeros(n_chains, self.top.n_visible, device=self.top.W.device), 1, generator)

    def negative_phase(
        self, chains: torch.Tensor | None, gibbs_steps: int, generator=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return pcd_negative_phase(self.top, chains, gibbs_steps, generator)

    @torch.no_grad()
    def base_data(self, codes: torch.Tensor, generator=None) -> torch.Tensor:
        """h_{L-1} of the codes by the recognition path: the top RBM's data (the codes themselves for one layer)."""
        return self.upward(codes, generator)[0][-1]

    def log_z(self, codes: Codes, how: LogZSettings, generator=None) -> LogZ:
        """log Z of the top RBM, AIS's base model fitted to the base data of `codes()`."""
        return rbm_log_z(self.top, self.base_data(codes(), generator), how, generator)

    @torch.no_grad()
    def conservative_log_ratio(
        self, top: torch.Tensor, base_data: torch.Tensor, schedule: Sequence[Sequence[float]], generator=None
    ) -> torch.Tensor:
        """RAISE on the top RBM from h_{L-1} = `top`, over p*_top(top): the directed layers are the annealing
        model's too, so the ratio is the whole prior's."""
        return raise_log_prob(self.top, top, base_data, schedule, generator) + self.top.free_energy(top).double()

    @torch.no_grad()
    def init_from_rbms(self, rbms: Sequence[RBM]) -> None:
        """The DBN of greedily trained RBMs, bottom first: each lower RBM gives a directed layer (its downward
        pass) and a recognition layer (its upward pass); the last is the top RBM."""
        if [(r.n_visible, r.n_hidden) for r in rbms] != list(zip(self.sizes[:-1], self.sizes[1:], strict=True)):
            raise ValueError(f"RBM sizes {[(r.n_visible, r.n_hidden) for r in rbms]} do not stack to {self.sizes}")
        for rbm, generative, recognition in zip(rbms, self.generative, self.recognition, strict=False):
            generative.weight.copy_(rbm.W)
            generative.bias.copy_(rbm.a)
            recognition.weight.copy_(rbm.W.T)
            recognition.bias.copy_(rbm.b)
        self.top.load_state_dict(rbms[-1].state_dict())

    def load_pretrained(self, layers: Sequence[Mapping[str, Any]]) -> None:
        """The stage-two checkpoints of the layers, bottom first."""
        self.init_from_rbms([RBM.from_state(layer["rbm"]) for layer in layers])


# ---------------------------------------------------------------------------------------------
# Exact enumeration for tiny stacks: every layer of at most MAX_EXACT_LAYER_UNITS units
# ---------------------------------------------------------------------------------------------

MAX_EXACT_LAYER_UNITS = 16  # 2^16 states of a layer, times those of the layer below, stay within memory


def _layer_log_conditional(linear: nn.Linear, given: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """log p(states | given) for every pair: (len(states), len(given)), float64."""
    logits = given @ linear.weight.detach().double().T + linear.bias.detach().double()  # (n_given, n_out)
    return states @ logits.T - F.softplus(logits).sum(-1)


def _states(n: int) -> torch.Tensor:
    if n > MAX_EXACT_LAYER_UNITS:
        raise ValueError(f"exact enumeration needs layers of at most {MAX_EXACT_LAYER_UNITS} units, got {n}")
    return all_binary_states(n, 0, 2**n)


@torch.no_grad()
def exact_upper_marginal(prior: RBMPrior, level: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every state of h_level (1 <= level <= L-1) and its exact log-probability under the model above it."""
    states, probs = exact_visible_distribution(prior.top)
    if prior.top.n_visible > MAX_ENUMERATION_UNITS:
        raise ValueError("the top RBM is too large to enumerate")
    log_p = probs.log()
    for i in range(prior.n_layers - 1, level, -1):  # from h_{L-1} down to h_level
        below = _states(prior.sizes[i - 1])
        log_p = torch.logsumexp(_layer_log_conditional(prior.generative[i - 1], states, below) + log_p, -1)
        states = below
    return states, log_p


@torch.no_grad()
def exact_log_prob(prior: RBMPrior, z: torch.Tensor) -> torch.Tensor:
    """Exact log p(z) per row of z, float64, by enumerating every upper layer."""
    z = z.double().cpu()
    if prior.n_layers == 1:
        states, probs = exact_visible_distribution(prior.top)
        index = (z * 2 ** torch.arange(z.shape[1], dtype=torch.float64)).sum(-1).long()
        return probs.log()[index]
    states, log_p = exact_upper_marginal(prior, 1)
    return torch.logsumexp(_layer_log_conditional(prior.generative[0], states, z) + log_p, -1)


@torch.no_grad()
def exact_variational_bound(prior: RBMPrior, z: torch.Tensor) -> torch.Tensor:
    """The DBN bound on log p(z) of Hinton, Osindero & Teh (2006), per row of z, exactly:
    sum_{h_1} q(h_1|z) [log p(z|h_1) + log p(h_1) - log q(h_1|z)], with q the first recognition layer and
    p(h_1) the exact marginal of the layers above."""
    if prior.n_layers < 2:
        raise ValueError("the variational bound needs at least two layers")
    z = z.double().cpu()
    states, log_p = exact_upper_marginal(prior, 1)
    log_q = _layer_log_conditional(prior.recognition[0], z, states).T  # (n, states)
    log_joint = _layer_log_conditional(prior.generative[0], states, z) + log_p  # (n, states)
    return (log_q.exp() * (log_joint - log_q)).sum(-1)
