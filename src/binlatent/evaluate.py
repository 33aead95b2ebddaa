"""Test log-likelihood: importance sampling over z with q, minus the prior's log Z (AIS, reverse, exact).

An RBM on the pixels needs no sampling over z: its log p(x) = -F(x) - log Z, with the same log Z estimates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from binlatent.ais import AISResult, ais_log_z, raise_log_prob
from binlatent.estimators import iwae_bound
from binlatent.models import HybridModel, RBMPrior, images_per_chunk
from binlatent.rbm import MAX_ENUMERATION_UNITS, RBM, exact_log_z


def importance_log_likelihood(model: HybridModel, x: torch.Tensor, k: int, generator) -> np.ndarray:
    """log (1/K) sum_k p(x|z_k) p*(z_k) / q(z_k|x) per image, z_k ~ q(.|x), in float64 (nats).

    For an RBM prior p* is unnormalised: subtract log Z to get log p(x). Images are processed in
    chunks of images_per_chunk(model, K) so that memory stays bounded for large K and large images.
    """
    with torch.no_grad():
        parts = [
            iwae_bound(model.log_weights(xb, k, generator)[0].double()) for xb in x.split(images_per_chunk(model, k))
        ]
    return torch.cat(parts).cpu().numpy()


def mean_and_se(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))


@torch.no_grad()
def evaluate_model(
    model: HybridModel,
    x_test: torch.Tensor,
    x_train: torch.Tensor,
    cfg: Mapping[str, Any],
    generator: torch.Generator,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Metrics (nats per image) and arrays (per-image estimates, AIS traces) for one trained model."""
    per_image = importance_log_likelihood(model, x_test, cfg["K"], generator)
    ll, se = mean_and_se(per_image)
    metrics: dict[str, float] = {"K": cfg["K"], "n_test": len(x_test), "test_ll_unnormalised": ll, "test_ll_se": se}
    arrays: dict[str, np.ndarray] = {"per_image_unnormalised_ll": per_image}
    if not isinstance(model.prior, RBMPrior):
        metrics.update(log_z=0.0, test_ll=ll)
        return metrics, arrays
    codes = model.encoder.sample(x_train, 1, generator)[0][:, 0]  # (n_train, n_latent) z ~ q(z|x)
    conservative = raise_log_likelihood(model, x_test, codes, cfg["raise"]["K"], cfg["raise"]["schedule"], generator)
    return normalise(model.prior.rbm, codes, ll, conservative, cfg, generator, metrics, arrays)


@torch.no_grad()
def evaluate_pixel_rbm(
    rbm: RBM, x_test: torch.Tensor, x_train: torch.Tensor, cfg: Mapping[str, Any], generator: torch.Generator
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """An RBM on the pixels: log p(x) = -F(x) - log Z per test image, with the same AIS and exact log Z, and
    RAISE from one reverse chain per image."""
    per_image = (-rbm.free_energy(x_test).double()).cpu().numpy()
    ll, se = mean_and_se(per_image)
    metrics: dict[str, float] = {"K": 0, "n_test": len(x_test), "test_ll_unnormalised": ll, "test_ll_se": se}
    arrays: dict[str, np.ndarray] = {"per_image_unnormalised_ll": per_image}
    # one reverse chain per image: with 784 visible units, K chains per image would cost K times the AIS
    conservative = raise_log_prob(rbm, x_test, x_train, cfg["raise"]["schedule"], generator).cpu().numpy()
    return normalise(rbm, x_train, ll, conservative, cfg, generator, metrics, arrays)


def normalise(
    rbm: RBM,
    base_data: torch.Tensor,
    ll_unnormalised: float,
    conservative: np.ndarray,
    cfg: Mapping[str, Any],
    generator: torch.Generator,
    metrics: dict[str, float],
    arrays: dict[str, np.ndarray],
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Add log Z (forward AIS with its band, exact where small) and the conservative RAISE figure."""
    forward = ais_log_z(rbm, base_data, cfg["ais"]["schedule"], cfg["ais"]["runs"], generator=generator)
    metrics.update(forward.as_dict(""))
    metrics["test_ll"] = ll_unnormalised - forward.log_z
    metrics["test_ll_band_low"] = ll_unnormalised - forward.log_z_high
    metrics["test_ll_band_high"] = ll_unnormalised - forward.log_z_low
    metrics["test_ll_conservative"], metrics["test_ll_conservative_se"] = mean_and_se(conservative)
    arrays["per_image_conservative_ll"] = conservative
    if min(rbm.n_visible, rbm.n_hidden) <= min(MAX_ENUMERATION_UNITS, cfg["exact_max_units"]):
        metrics["exact_log_z"] = exact_log_z(rbm)
        metrics["test_ll_exact_log_z"] = ll_unnormalised - metrics["exact_log_z"]
    arrays.update(ais_arrays(forward, "ais_forward"))
    return metrics, arrays


def add_bits_per_dim(metrics: dict[str, float], n_dims: int) -> None:
    """For 8-bit images: each test log-likelihood (nats per image) as bits per dimension, -ll / (D ln 2),
    with its standard error; the discretised likelihood makes this the usual bits/dim of 8-bit data."""
    scale = 1 / (n_dims * math.log(2))
    for key in ("test_ll", "test_ll_conservative"):
        if key in metrics:
            name = key.replace("test_ll", "test_bpd")
            metrics[name] = -metrics[key] * scale
            metrics[f"{name}_se"] = metrics[f"{key}_se"] * scale


def raise_log_likelihood(
    model: HybridModel,
    x: torch.Tensor,
    base_data: torch.Tensor,
    k: int,
    schedule: list[list[float]],
    generator,
) -> np.ndarray:
    """Conservative log p(x) per image: log (1/K) sum_k p(x|z_k) w_RAISE(z_k) / q(z_k|x), z_k ~ q.

    w_RAISE(z) is an unbiased estimate of the annealing model's p_ann(z) (see `raise_log_prob`), so
    the average is unbiased for the model with prior p_ann and its log is a stochastic lower bound.
    """
    rbm = model.prior.rbm
    parts = []
    for xb in x.split(images_per_chunk(model, k)):
        with torch.no_grad():
            z, log_q = model.encoder.sample(xb, k, generator)  # (batch, K, n_latent), (batch, K)
            log_px = model.decoder.log_prob(xb, z)
        log_prior = raise_log_prob(rbm, z.reshape(-1, z.shape[-1]), base_data, schedule, generator)
        parts.append(iwae_bound((log_px - log_q).double() + log_prior.reshape(log_q.shape)))
    return torch.cat(parts).cpu().numpy()


def ais_arrays(result: AISResult, prefix: str) -> dict[str, np.ndarray]:
    return {
        f"{prefix}/log_weights": result.log_weights,
        f"{prefix}/trace_betas": result.trace_betas,
        f"{prefix}/trace_log_weights": result.trace_log_weights,
        f"{prefix}/estimate": np.array([result.log_z, result.log_z_low, result.log_z_high, result.log_z_base]),
    }
