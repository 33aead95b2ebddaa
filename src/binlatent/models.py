"""The trained models: the hybrid (encoder, decoder, a prior over the code) and the RBM on pixels.

Both share one interface: `log_likelihood(x, K)` (per-image log p(x) estimates and the log Z used, with its
band), `sample(n)`, `reconstruct(x)`, and a checkpoint that rebuilds the model without any config:

    from binlatent import load_model
    m = load_model("results/hybrid/model.pt")
    m.sample(16)
    m.log_likelihood(x, K=1000)
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from binlatent import importance, inputs, progress
from binlatent.checkpoints import load_checkpoint, save_checkpoint
from binlatent.enumeration import MAX_ENUMERATION_UNITS
from binlatent.estimators import log_mean_exp
from binlatent.image import ImageFormat
from binlatent.networks import Decoder, Encoder, GaussianEncoder, build_networks
from binlatent.priors import LogZ, LogZSettings, Prior, build_prior
from binlatent.rbm import RBM
from binlatent.sampling import bernoulli
from binlatent.variants import ModelSpec

# Forward AIS for log Z when the caller names none: the workflow's evaluate.ais default (Salakhutdinov & Murray 2008)
DEFAULT_AIS = {"runs": 100, "schedule": [[0.5, 1000], [0.9, 4000], [1.0, 10000]]}
# Decoder outputs held at once outside training: about one image at K = 1000, a few MB, so that the elementwise passes
# over them stay in cache (16 times more ran half as fast).
DECODER_OUTPUT_BUDGET = 1_000_000
RAISE_CHAINS_PER_CALL = 2048  # reverse chains annealed as one batch: fewer steps than one call per image
# The layout of a checkpoint's model_args: raise it whenever what rebuilds a model changes, so that a checkpoint of an
# older layout is refused with a message (binlatent.inputs.model_checkpoint) instead of misread.
MODEL_FORMAT = 2


@dataclass(frozen=True)
class LogLikelihood:
    """Per-image estimates of log p(x) in nats: `unnormalised` (log-mean-exp over K importance samples from q of
    log p(x|z) + log p*(z) - log q(z|x), or -F(x) for an RBM on pixels) minus the log Z used.

    `conservative`, where computed, is RAISE: per image a stochastic lower bound on the log-likelihood of the
    model whose prior is the annealing model (not the RBM), which approaches the RBM prior's as the schedule
    lengthens; keyed by `conservative_estimates`' labels ('' at K codes, '_4K', '_long').

    `quadrupled`, for a model that samples codes, is the unnormalised estimate at 4K importance samples, the K of
    the main figure among them: how far the estimate moves when K is quadrupled."""

    unnormalised: np.ndarray  # (n,) float64
    log_z: LogZ
    conservative: dict[str, np.ndarray] | None = None  # label -> (n,) float64
    quadrupled: np.ndarray | None = None  # (n,) float64

    @property
    def per_image(self) -> np.ndarray:
        return self.unnormalised - self.log_z.value


class GenerativeModel(nn.Module):
    """What every trained model offers; subclasses give the unnormalised log-likelihood, the codes AIS's base
    model fits, the conservative figure, samples and reconstructions."""

    prior: Prior
    train_seconds: float = 0.0  # training time recorded in the checkpoint, pretraining included
    shows: str  # what `sample` and `reconstruct` return per image, in the words of the figures' captions

    def __init__(self, model_args: Mapping[str, Any]):
        super().__init__()
        self.model_args = dict(model_args)  # what build_model needs to rebuild this model
        self.spec = ModelSpec(**model_args["spec"])
        self.image = ImageFormat.from_dict(model_args["image"])

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def unnormalised_log_likelihood(self, x: torch.Tensor, k: int, generator=None) -> np.ndarray:
        raise NotImplementedError

    def posterior_codes(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        """The codes of x that the prior sees: what the base data of AIS's base-rate model are made from."""
        raise NotImplementedError

    def conservative_estimates(
        self, x: torch.Tensor, codes: torch.Tensor, k: int, cfg: Mapping[str, Any], generator=None
    ) -> tuple[dict[str, np.ndarray], dict[int, np.ndarray]]:
        """RAISE per image, float64, keyed by label: with cfg['schedule'] at K importance samples ('') and at 4K
        ('_4K', where the model samples codes), and with cfg['long_schedule'] ('_long') where given. Each is a
        stochastic lower bound on log p(x) under the model whose top RBM is its annealing model.

        Also the plain importance estimates of log p*(x) from the same samples, keyed by their number (K, 4K; none
        for a model without codes), so that the main figure at K need not draw its samples again."""
        raise NotImplementedError

    def conservative_ratios(
        self, tops: torch.Tensor, codes: torch.Tensor, schedule: Sequence[Sequence[float]], generator=None
    ) -> torch.Tensor:
        """The prior's `conservative_log_ratio` for every row of `tops`, annealed RAISE_CHAINS_PER_CALL at a time
        (far fewer steps than one call per image); AIS's base model fitted once to the base data of the training
        `codes`."""
        base_data = self.prior.base_data(codes, generator)
        return torch.cat([self.prior.conservative_log_ratio(part, base_data, schedule, generator)
                          for part in tops.split(RAISE_CHAINS_PER_CALL)])  # fmt: skip

    def sample(
        self,
        n: int,
        gibbs_steps: int = 1000,
        generator=None,
        x_base: torch.Tensor | None = None,
        ais: Mapping[str, Any] | None = None,
    ) -> torch.Tensor:
        """n samples as intensities in [0, 1], shape (n, D) (what they are: `shows`). An RBM's chains start from AIS
        runs drawn by weight, AIS's base model fitted to the codes of `x_base`, with `ais` (`priors.chain_starts`);
        from random states without."""
        raise NotImplementedError

    def prior_sample(
        self, n: int, gibbs_steps: int, generator, x_base: torch.Tensor | None, ais: Mapping[str, Any] | None
    ) -> torch.Tensor:
        """n draws from the prior, as `sample` says."""
        x_base = inputs.sample_arguments(self, n, gibbs_steps, x_base, ais)
        codes = (lambda: self.posterior_codes(x_base, generator)) if x_base is not None else None
        return self.prior.sample(n, gibbs_steps, generator, codes, ais)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor | None:
        """The decoding of the most probable code of each image (as `shows` says); None for a model without a
        code."""
        return None

    def log_z(self, x_base: torch.Tensor, how: LogZSettings, generator=None) -> LogZ:
        """The prior's log Z, AIS's base model fitted to the codes of `x_base` (see `priors.rbm_log_z`)."""
        return self.prior.log_z(lambda: self.posterior_codes(x_base, generator), how, generator)

    @torch.no_grad()
    @progress.reported
    def log_likelihood(
        self,
        x: torch.Tensor | np.ndarray,
        K: int = 1000,
        x_base: torch.Tensor | np.ndarray | None = None,
        ais: Mapping[str, Any] = DEFAULT_AIS,
        conservative: Mapping[str, Any] | None = None,
        exact_up_to: int = MAX_ENUMERATION_UNITS,
        generator: torch.Generator | None = None,
    ) -> LogLikelihood:
        """Per-image log p(x) estimates with the log Z used (forward AIS with its band; exact beside it when the
        RBM's smaller layer has at most `exact_up_to` units).

        x: images as the data stage stores them, (n, D). AIS's base-rate model is fitted to the codes of
        `x_base` (default x; the workflow uses the training images). `conservative`, e.g.
        {"K": 1000, "chains": 2, "schedule": [[1.0, 1000]], "long_schedule": [[1.0, 4000]]}, adds RAISE at K, 4K
        and the long schedule (`conservative_estimates`); at conservative["K"] == K the main figure is the first K
        of RAISE's 4K samples (all of them at 4K == K).
        """
        x, x_base = inputs.log_likelihood_arguments(self, x, K, x_base, ais, conservative, exact_up_to)
        progress.log_likelihood_plan(len(x), K, bool(self.spec.K), self.prior.normalised, ais, conservative)
        if self.prior.normalised:
            unnormalised = self.unnormalised_log_likelihood(x, K, generator)
            return LogLikelihood(unnormalised, LogZ.normalised(), None, self.quadrupled(x, K, unnormalised, generator))
        codes = self.posterior_codes(x if x_base is None else x_base, generator)
        lower, plain = None, {}
        if conservative is not None:
            lower, plain = self.conservative_estimates(x, codes, conservative["K"], conservative, generator)
        unnormalised = plain[K] if K in plain else self.unnormalised_log_likelihood(x, K, generator)
        quadrupled = plain[4 * K] if 4 * K in plain else self.quadrupled(x, K, unnormalised, generator)
        log_z = self.prior.log_z(lambda: codes, LogZSettings.evaluation(ais, exact_up_to), generator)
        return LogLikelihood(unnormalised, log_z, lower, quadrupled)

    def quadrupled(self, x: torch.Tensor, k: int, unnormalised: np.ndarray, generator=None) -> np.ndarray | None:
        """The unnormalised estimate at 4K importance samples: the K already scored (`unnormalised`) and 3K more;
        None for a model that samples no codes (its estimate is exact, or has no K)."""
        if not self.spec.has_code:
            return None
        more = self.unnormalised_log_likelihood(x, 3 * k, generator)
        return np.logaddexp(unnormalised + math.log(k), more + math.log(3 * k)) - math.log(4 * k)

    def _as_tensor(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        return inputs.images(x, self.image, "x", self.device)


class HybridModel(GenerativeModel):
    """Encoder q(z|x), decoder p(x|z) and a prior over the code."""

    def __init__(
        self, encoder: Encoder | GaussianEncoder, decoder: Decoder, prior: Prior, model_args: Mapping[str, Any]
    ):
        super().__init__(model_args)
        self.encoder, self.decoder, self.prior = encoder, decoder, prior

    def log_weights(self, x: torch.Tensor, k: int, generator=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """log w_k = log p(x|z_k) + log p*(z_k) - log q(z_k|x), z_k ~ q(.|x); also z and log q.

        Shapes: (batch, K), (batch, K, n_latent), (batch, K). log p* is unnormalised for the RBM. For a deep prior
        log p*(z_k) is its importance estimate from one sample h_k ~ q(h|z_k) of the upper layers, and the
        returned log q is log q(z_k|x) + log q(h_k|z_k): the whole stack's, which the estimators' score terms use.
        """
        z, log_q = self.encoder.sample(x, k, generator)
        log_prior, log_q_upper, _ = self.prior.importance_log_prob(z, generator)
        log_w = self.decoder.log_prob(x, z) + log_prior - log_q
        return log_w, z, log_q + log_q_upper

    def images_per_chunk(self, k: int) -> int:
        """How many images to score at once with K codes each, so that the decoder's outputs stay within
        DECODER_OUTPUT_BUDGET (at least one image)."""
        return max(1, DECODER_OUTPUT_BUDGET // (self.decoder.likelihood.n_outputs * k))

    @torch.no_grad()
    def unnormalised_log_likelihood(self, x: torch.Tensor, k: int, generator=None) -> np.ndarray:
        """log (1/K) sum_k p(x|z_k) p*(z_k) / q(z_k|x) per image, z_k ~ q(.|x), in float64 (nats); in chunks of
        images_per_chunk(K) images, their codes in pieces within importance.MEMORY_BUDGET, so that memory stays bounded
        for large K and large images."""
        out, start = torch.empty(len(x), dtype=torch.float64, device=x.device), 0
        meter = importance.meter(self, len(x), k, "importance sampling")
        for xb in x.split(self.images_per_chunk(k)):  # filled in place, as in conservative_estimates
            out[start : start + len(xb)] = importance.log_mean_weight(self, xb, k, generator, meter)
            start += len(xb)
        return out.cpu().numpy()

    @torch.no_grad()
    def posterior_codes(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        """One code z ~ q(z|x) per row of x, shape (n, n_latent)."""
        return self.encoder.sample(x, 1, generator)[0][:, 0]

    @torch.no_grad()
    def conservative_estimates(
        self, x: torch.Tensor, codes: torch.Tensor, k: int, cfg: Mapping[str, Any], generator=None
    ) -> tuple[dict[str, np.ndarray], dict[int, np.ndarray]]:
        """RAISE per image at K ('') and 4K ('_4K') importance samples from q, the K the first of the same 4K codes,
        with cfg['chains'] reverse chains per image; and at 4K with cfg['long_schedule'] ('_long') where given.

        The 4K samples' weights w_k are the main figure's. cfg['chains'] samples are drawn in proportion to them,
        and RAISE at each drawn sample's top units t estimates p_ann(t) / p*_top(t), so that
            L = (1/K) sum_k w_k  *  mean over the drawn samples of RAISE(t) / p*_top(t)
        is unbiased for the likelihood under the model whose top RBM is its annealing model: log L is a stochastic
        lower bound on that model's log-likelihood, at the main figure's K for cfg['chains'] chains per image."""
        chains, sizes = cfg["chains"], {"": k, "_4K": 4 * k}
        # filled in place: small tensors kept per chunk between the chunks' large ones fragment the heap (GBs)
        bounds = torch.empty(len(sizes), len(x), dtype=torch.float64, device=x.device)
        drawn, start = None, 0  # (labels, n, chains, top units)
        meter = importance.meter(self, len(x), 4 * k, "RAISE's importance sampling")
        for xb in x.split(self.images_per_chunk(4 * k)):
            part, draws = importance.weights_and_draws(self, xb, list(sizes.values()), chains, generator, meter)
            rows = slice(start, start + len(xb))
            if drawn is None:
                drawn = draws.new_empty(len(sizes), len(x), chains, draws.shape[-1])
            bounds[:, rows], drawn[:, rows] = part, draws
            start += len(xb)

        def estimate(i: int, schedule: Sequence[Sequence[float]]) -> np.ndarray:
            ratio = self.conservative_ratios(drawn[i].reshape(len(x) * chains, -1), codes, schedule, generator)
            return (bounds[i] + log_mean_exp(ratio.reshape(len(x), chains), -1)).cpu().numpy()

        estimates = {label: estimate(i, cfg["schedule"]) for i, label in enumerate(sizes)}
        if cfg.get("long_schedule"):
            estimates["_long"] = estimate(1, cfg["long_schedule"])
        return estimates, {n_codes: bounds[i].cpu().numpy() for i, n_codes in enumerate(sizes.values())}

    @property
    def shows(self) -> str:
        return self.decoder.shows

    @torch.no_grad()
    def sample(
        self,
        n: int,
        gibbs_steps: int = 1000,
        generator=None,
        x_base: torch.Tensor | None = None,
        ais: Mapping[str, Any] | None = None,
    ) -> torch.Tensor:
        """Decoded prior samples, z from the prior (after `gibbs_steps` sweeps for an RBM): the decoder's `mean`,
        E[x|z], or one draw x ~ p(x|z) for an autoregressive decoder."""
        return self.decoder.mean(self.prior_sample(n, gibbs_steps, generator, x_base, ais))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor | None:
        """The decoder's `mean` at the most probable code of each image (E[x|z], or one draw from p(x|z)); None for
        a model without a code."""
        return self.decoder.mean(self.encoder.code(self._as_tensor(x))) if self.spec.has_code else None


class PixelRBM(GenerativeModel):
    """An RBM directly on the pixels: log p(x) = -F(x) - log Z, with the same RBM prior, AIS and RAISE code."""

    shows = "p(v = 1 | h), h from the Gibbs chain"

    def __init__(self, prior: Prior, model_args: Mapping[str, Any]):
        super().__init__(model_args)
        self.prior = prior

    @property
    def rbm(self) -> RBM:
        return self.prior.top

    @torch.no_grad()
    def unnormalised_log_likelihood(self, x: torch.Tensor, k: int = 0, generator=None) -> np.ndarray:
        """-F(x) per image, float64: no sampling, so K is not used."""
        return self.prior.unnormalised_log_prob(x).double().cpu().numpy()

    def posterior_codes(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        """The pixels are the RBM's visible units."""
        return x

    @torch.no_grad()
    def conservative_estimates(
        self, x: torch.Tensor, codes: torch.Tensor, k: int, cfg: Mapping[str, Any], generator=None
    ) -> tuple[dict[str, np.ndarray], dict[int, np.ndarray]]:
        """RAISE from one reverse chain per image (with 784 visible units, K chains per image would cost K times
        the AIS), so K is not used: log p*(x) + the ratio p_ann(x) / p*(x), at both schedules."""
        schedules = {"": cfg["schedule"], "_long": cfg.get("long_schedule")}
        log_p = self.prior.unnormalised_log_prob(x).double()
        estimates = {label: (log_p + self.conservative_ratios(x, codes, schedule, generator)).cpu().numpy()
                     for label, schedule in schedules.items() if schedule}  # fmt: skip
        return estimates, {}

    @torch.no_grad()
    def sample(
        self,
        n: int,
        gibbs_steps: int = 1000,
        generator=None,
        x_base: torch.Tensor | None = None,
        ais: Mapping[str, Any] | None = None,
    ) -> torch.Tensor:
        """p(v|h) at the end of `gibbs_steps` sweeps (from AIS runs drawn by weight, or from random images)."""
        v = self.prior_sample(n, gibbs_steps, generator, x_base, ais)
        return self.rbm.visible_probs(bernoulli(self.rbm.hidden_probs(v), generator))


def model_arguments(spec: ModelSpec, image: ImageFormat) -> dict[str, Any]:
    """What builds a model of `spec` (its resolved networks included) for `image`, in the layout MODEL_FORMAT."""
    return {"format": MODEL_FORMAT, "spec": spec.as_dict(), "image": image.as_dict()}


def build_model(model_args: Mapping[str, Any]) -> HybridModel | PixelRBM:
    """An untrained model from `model_arguments(...)`: networks first, then the prior (an RBM on the pixels for the
    pixel RBM)."""
    spec, image = ModelSpec(**model_args["spec"]), ImageFormat.from_dict(model_args["image"])
    if spec.network is None:
        return PixelRBM(build_prior("rbm", image.n_pixels, spec.prior_layers), model_args)
    encoder, decoder = build_networks(image, spec.network, gaussian=spec.prior == "gaussian")
    prior = build_prior(spec.prior, spec.network["n_latent"], spec.prior_layers)
    return HybridModel(encoder, decoder, prior, model_args)


def save_model(
    path: str | os.PathLike,
    model: GenerativeModel,
    state: Mapping[str, torch.Tensor],
    train_seconds: float,
    config: Mapping[str, Any],
) -> None:
    """A self-describing checkpoint: the weights `state` of `model`, its model_args, the training time, and the
    provenance of `config` (the config sections that made it)."""
    save_checkpoint(path, {"model": state, "model_args": model.model_args, "train_seconds": train_seconds}, config)


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> HybridModel | PixelRBM:
    """A trained model from its checkpoint alone, in eval mode on `device`; `model.train_seconds` is the
    training time it records (pretraining included)."""
    saved = inputs.model_checkpoint(path, load_checkpoint(path), MODEL_FORMAT)
    model = build_model(saved["model_args"])
    inputs.load_weights(model, saved["model"], path)
    model.train_seconds = float(saved["train_seconds"])
    return model.to(device).eval()
