"""Test log-likelihood of a trained model: the estimates of `model.log_likelihood` as metrics and arrays.

For a model with an RBM prior: importance sampling over z with q minus log Z (forward AIS with its band; the
exact value beside it where the RBM is small), and RAISE beside them. An RBM on the pixels: -F(x) - log Z.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from binlatent.ais import AISResult
from binlatent.models import GenerativeModel, LogLikelihood
from binlatent.priors import LogZ


def mean_and_se(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))


def evaluate_model(
    model: GenerativeModel,
    x_test: torch.Tensor,
    x_train: torch.Tensor,
    cfg: Mapping[str, Any],
    generator: torch.Generator,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Metrics (nats per image) and arrays (per-image estimates, AIS traces) for one trained model, with
    config['evaluate'] as `cfg`: K samples from q, AIS's schedule and runs from codes of the training
    images, RAISE, and exact enumeration up to cfg['exact_max_units']."""
    k = cfg["K"] if model.spec.K else 0  # a pixel RBM samples no codes
    result = model.log_likelihood(
        x_test, k, x_train, cfg["ais"], cfg["raise"], cfg["exact_max_units"], generator=generator
    )
    return likelihood_metrics(result, k)


def likelihood_metrics(result: LogLikelihood, k: int) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """The metrics of one evaluation: test_ll (mean log p(x)) with its standard error over test images, log Z
    with its band, RAISE and the exact log Z where computed; and the per-image arrays and AIS traces."""
    ll, se = mean_and_se(result.unnormalised)
    metrics: dict[str, float] = {"K": k, "n_test": len(result.unnormalised), "test_ll_unnormalised": ll}
    metrics["test_ll_se"] = se
    arrays: dict[str, np.ndarray] = {"per_image_unnormalised_ll": result.unnormalised}
    log_z: LogZ = result.log_z
    if log_z.method == "normalised":
        metrics.update(log_z=0.0, test_ll=ll)
        return metrics, arrays
    metrics.update(log_z=log_z.value, log_z_low=log_z.low, log_z_high=log_z.high)
    metrics["test_ll"] = ll - log_z.value
    metrics["test_ll_band_low"] = ll - log_z.high
    metrics["test_ll_band_high"] = ll - log_z.low
    if result.conservative is not None:
        metrics["test_ll_conservative"], metrics["test_ll_conservative_se"] = mean_and_se(result.conservative)
        arrays["per_image_conservative_ll"] = result.conservative
    if log_z.exact is not None:
        metrics["exact_log_z"] = log_z.exact
        metrics["test_ll_exact_log_z"] = ll - log_z.exact
    if log_z.ais is not None:
        arrays.update(ais_arrays(log_z.ais, "ais_forward"))
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


def ais_arrays(result: AISResult, prefix: str) -> dict[str, np.ndarray]:
    return {
        f"{prefix}/log_weights": result.log_weights,
        f"{prefix}/trace_betas": result.trace_betas,
        f"{prefix}/trace_log_weights": result.trace_log_weights,
        f"{prefix}/estimate": np.array([result.log_z, result.log_z_low, result.log_z_high, result.log_z_base]),
    }
