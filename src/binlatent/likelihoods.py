"""Pixel likelihoods p(x|z) from a decoder's outputs: Bernoulli for binary images, and the discretised
logistic mixture of PixelCNN++ (Salimans et al., ICLR 2017) for 8-bit images.

Both read x as the data stage stores it, flattened in (height, width, channel) order: 0/1 for binary
images, 0..255 for 8-bit ones; `log_prob` is in nats per image, `mean` in intensities in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from binlatent.softplus import exp_, log1p_exp_, log_, logsumexp_, softplus

MIN_LOG_SCALE = -7.0  # PixelCNN++'s floor on the logistics' log scales


class _BernoulliLogProb(torch.autograd.Function):
    """sum_d [x_d l_d - softplus(l_d)] = -sum_d [relu(s_d l_d) + log(1 + exp(-|l_d|))] with s = 1 - 2x for binary x,
    each term formed before the sum so that float32 keeps its precision, in a few in-place passes over one buffer
    (the decoder's outputs at K = 1000 are the evaluation's largest tensors); gradient x - sigmoid(l)."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(logits, x)
        terms = torch.mul(logits, 1 - 2 * x).clamp_(min=0)  # relu(s l), in the broadcast shape
        terms.add_(log1p_exp_(torch.abs(logits).neg_()))  # + log(1 + exp(-|l|)), in the logits' shape
        return terms.sum(-1).neg_()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        logits, x = ctx.saved_tensors
        return (grad.unsqueeze(-1) * (x - torch.sigmoid(logits))).sum_to_size(logits.shape), None


def bernoulli_log_prob(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """sum_d log Bernoulli(x_d; sigmoid(logits_d)) over the last axis, for binary x (logits and x broadcast);
    differentiable in the logits."""
    return _BernoulliLogProb.apply(logits, x)


def gaussian_log_prob(z: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """sum_i log N(z_i; mean_i, exp(log_std_i)^2) over the last axis."""
    return (-0.5 * ((z - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


class BernoulliPixels:
    """Factorised Bernoulli over binary pixels: one logit per pixel."""

    def __init__(self, image_shape: Sequence[int]):
        self.per_position = image_shape[2] if len(image_shape) == 3 else 1
        self.n_outputs = math.prod(image_shape)

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return bernoulli_log_prob(params, x)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(params)

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x ~ p(x|params) as 0/1 pixels, the shape of params."""
        u = torch.rand(params.shape, generator=generator, device=params.device)
        return (u < torch.sigmoid(params)).to(params.dtype)


class DiscretisedLogisticMixture:
    """Per pixel position, a mixture of `n_mix` discretised logistics over the 256 values of each channel,
    the channels coupled linearly within a component (red -> green -> blue) as in PixelCNN++.

    Per position and component the decoder gives one mixture logit, C means, C log scales and C(C-1)/2
    coupling coefficients; a value's bin is [x - 1/255, x + 1/255] on the [-1, 1] scale, and the two end
    bins take the logistic's tails, so the 256 probabilities of each channel sum to one.
    """

    def __init__(self, image_shape: Sequence[int], n_mix: int):
        height, width, self.channels = image_shape if len(image_shape) == 3 else (*image_shape, 1)
        self.n_positions, self.n_mix = height * width, n_mix
        self.n_coupling = self.channels * (self.channels - 1) // 2
        self.per_position = n_mix * (1 + 2 * self.channels + self.n_coupling)
        self.n_outputs = self.n_positions * self.per_position
        # the (channel, earlier channel) pair of each coupling coefficient: (1, 0), (2, 0), (2, 1)
        self.pairs = [(c, j) for c in range(self.channels) for j in range(c)]

    def _split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mixture logits (..., P, M), means and log scales (..., P, C, M), coefficients (..., P, C(C-1)/2, M)."""
        p = params.reshape(*params.shape[:-1], self.n_positions, -1, self.n_mix)
        c, n = self.channels, self.n_coupling
        logits, means, log_scales, coeffs = p.split([1, c, c, n], dim=-2)
        tanh = 2 * torch.sigmoid(2 * coeffs) - 1  # tanh: torch's runs at a third of its sigmoid's speed on the CPU
        return logits.squeeze(-2), means, log_scales.clamp(min=MIN_LOG_SCALE), tanh

    def _coupled_means(self, means: torch.Tensor, coeffs: torch.Tensor, given: torch.Tensor) -> torch.Tensor:
        """Each channel's mean plus sum_j coeff * given_j over the earlier channels j."""
        shifts = [torch.zeros_like(means[..., 0, :]) for _ in range(self.channels)]
        for i, (c, j) in enumerate(self.pairs):
            shifts[c] = shifts[c] + coeffs[..., i, :] * given[..., j, :]
        return means + torch.stack(shifts, dim=-2)

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) in nats per image; x (..., D) with values 0..255 broadcasts against params (..., n_outputs).
        Without autograd `scored_log_prob`, the same values in fewer passes; with it `plain_log_prob`."""
        if torch.is_grad_enabled() and params.requires_grad:
            return self.plain_log_prob(params, x)
        return self.scored_log_prob(params, x)

    def plain_log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log_prob as the formulas read, every bin's three cases computed everywhere and chosen by `where`."""
        logits, means, log_scales, coeffs = self._split(params)
        scaled = x.reshape(*x.shape[:-1], self.n_positions, self.channels, 1) / 127.5 - 1.0
        scaled, means = torch.broadcast_tensors(scaled, means)
        centred = scaled - self._coupled_means(means, coeffs, scaled)
        inv_scale = torch.exp(-log_scales)
        upper, lower = inv_scale * (centred + 1 / 255), inv_scale * (centred - 1 / 255)
        log_cdf_upper = upper - softplus(upper)  # log sigmoid(upper): the bottom bin (x = 0)
        log_survival_lower = -softplus(lower)  # log (1 - sigmoid(lower)): the top bin (x = 255)
        mass = torch.sigmoid(upper) - torch.sigmoid(lower)
        middle = inv_scale * centred  # where the bin's mass underflows: density times bin width
        log_density = middle - log_scales - 2 * softplus(middle) - math.log(127.5)
        log_mass = torch.where(mass > 1e-5, torch.log(mass.clamp(min=1e-12)), log_density)
        log_bin = torch.where(scaled < -0.999, log_cdf_upper, torch.where(scaled > 0.999, log_survival_lower, log_mass))
        return self.mixed(log_bin, logits)

    @staticmethod
    def mixed(log_bin: torch.Tensor, logits: torch.Tensor, in_place: bool = False) -> torch.Tensor:
        """sum over positions of log sum_m softmax(logits)_m prod_c bin_c, from log_bin (..., P, C, M) and logits
        (..., P, M), as logsumexp(sum_c log bin + logits) - logsumexp(logits): torch's log_softmax over so short a
        last axis is ten times slower. in_place (no autograd): the logsumexps by softplus.logsumexp_, numpy's passes
        on temporaries."""
        joint = log_bin.sum(-2) + logits
        if in_place:
            return (logsumexp_(joint) - logsumexp_(logits.clone(memory_format=torch.contiguous_format))).sum(-1)
        return (torch.logsumexp(joint, -1) - torch.logsumexp(logits.contiguous(), -1)).sum(-1)

    @torch.no_grad()
    def scored_log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """plain_log_prob without autograd, its twin (tested against it), for one image x (1, ..., D) under many
        parameters (..., n_outputs): every bin's log mass log(sigmoid(upper) - sigmoid(lower)) in a few passes in
        place, and the other cases only where they apply, the image's end bins (values 0 and 255) and the bins whose
        mass underflows (density times bin width). Several images go to plain_log_prob."""
        if x[..., 0].numel() != 1:
            return self.plain_log_prob(params, x)
        logits, means, log_scales, coeffs = self._split(params)
        scaled = x.reshape(self.n_positions, self.channels, 1) / 127.5 - 1.0
        middle = torch.sub(scaled, means)  # centred on the coupled means, then scaled: (..., P, C, M)
        for i, (c, j) in enumerate(self.pairs):
            middle[..., c, :].addcmul_(coeffs[..., i, :], scaled[:, j], value=-1)
        half_bin = exp_(torch.neg(log_scales))  # 1 / scale
        middle.mul_(half_bin)
        half_bin.mul_(1 / 255)
        upper, lower = torch.add(middle, half_bin), torch.sub(middle, half_bin)
        by_value = (*middle.shape[:-3], self.n_positions * self.channels, self.n_mix)  # (position, channel) flattened
        bottom, top = (
            torch.nonzero(scaled.flatten() < -0.999).flatten(),
            torch.nonzero(scaled.flatten() > 0.999).flatten(),
        )
        at_bottom = upper.view(by_value).index_select(-2, bottom)
        ends = [(bottom, at_bottom - softplus(at_bottom)), (top, -softplus(lower.view(by_value).index_select(-2, top)))]
        log_bin = upper.sigmoid_().sub_(lower.sigmoid_())  # the mass, then its log
        tiny = log_bin <= 1e-5
        log_(log_bin.clamp_(min=1e-12))
        if tiny.any():  # in a mixture most components' bins are far from the value: computed everywhere, then chosen
            log_density = softplus(middle).mul_(-2).add_(middle).sub_(log_scales).sub_(math.log(127.5))
            log_bin = torch.where(tiny, log_density, log_bin)
        for where, value in ends:
            log_bin.view(by_value).index_copy_(-2, where, value)
        return self.mixed(log_bin, logits, in_place=True)

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x ~ p(x|params) as values 0..255 (..., D): a component per position, then the channels in order, each a
        logistic draw around its coupled mean rounded to the nearest of the 256 bins (exactly the discretised law)."""
        logits, means, log_scales, coeffs = self._split(params)
        gumbel = -torch.log(-torch.log(torch.rand(logits.shape, generator=generator, device=params.device)))
        chosen = torch.nn.functional.one_hot((logits + gumbel).argmax(-1), self.n_mix).to(params.dtype).unsqueeze(-2)
        means, log_scales, coeffs = ((t * chosen).sum(-1) for t in (means, log_scales, coeffs))  # (..., P, C or n)
        u = torch.rand(means.shape, generator=generator, device=params.device).clamp(1e-6, 1 - 1e-6)
        draws = means + log_scales.exp() * (torch.log(u) - torch.log1p(-u))  # (..., P, C) before coupling
        values: list[torch.Tensor] = []  # each channel's value on the [-1, 1] scale, given the earlier ones
        for c in range(self.channels):
            shift = sum(coeffs[..., i] * values[j] for i, (d, j) in enumerate(self.pairs) if d == c)
            values.append(torch.round(((draws[..., c] + shift).clamp(-1, 1) + 1) * 127.5) / 127.5 - 1)
        return ((torch.stack(values, -1) + 1) * 127.5).round().reshape(*params.shape[:-1], -1)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """E[x|z] as intensities in [0, 1] (..., D): the components' coupled means, weighted by their probabilities."""
        logits, means, _, coeffs = self._split(params)
        coupled = means
        for _ in range(self.channels - 1):  # each pass fixes one more channel of the chain
            coupled = self._coupled_means(means, coeffs, coupled)
        expected = (coupled.clamp(-1, 1) * torch.softmax(logits, -1).unsqueeze(-2)).sum(-1)  # (..., P, C)
        return ((expected + 1) / 2).reshape(*params.shape[:-1], -1)
