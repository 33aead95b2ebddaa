"""Test log-likelihood of a trained model: the estimates of `model.log_likelihood` as metrics and arrays.

For a model with an RBM prior: importance sampling over z with q minus log Z (forward AIS with its band; the
exact value beside it where the RBM is small), and RAISE beside them. An RBM on the pixels: -F(x) - log Z.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from binlatent.ais import AISResult
from binlatent.ais_diagnostics import AISCheck
from binlatent.checkpoints import load_checkpoint
from binlatent.models import GenerativeModel, LogLikelihood
from binlatent.priors import LogZ
from binlatent.stats import interval, mean_and_se

log = logging.getLogger("binlatent")


def evaluate_model(
    model: GenerativeModel,
    x_test: torch.Tensor,
    x_train: torch.Tensor,
    cfg: Mapping[str, Any],
    generator: torch.Generator,
    blocks: np.ndarray | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metrics (nats per image) and arrays (per-image estimates, AIS traces) for one trained model, with
    config['evaluate'] as `cfg`: K samples from q, AIS's schedule and runs from codes of the training
    images, RAISE, and exact enumeration up to cfg['exact_max_units']; standard errors clustered by `blocks` (each
    test image's block of a photograph) where given."""
    k = cfg["K"] if model.spec.K else 0  # a pixel RBM samples no codes
    result = model.log_likelihood(
        x_test, k, x_train, cfg["ais"], cfg["raise"], cfg["exact_max_units"], generator=generator
    )
    return likelihood_metrics(result, k, blocks)


def likelihood_metrics(
    result: LogLikelihood, k: int, blocks: np.ndarray | None = None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The metrics of one evaluation: test_ll (mean log p(x)) with its standard error over test images (clustered
    by `blocks` where given, the independent one kept as test_ll_se_iid) and its interval (`stats.interval`), log
    Z with its band, AIS's reliability check (flagged in the log), RAISE and the exact log Z where computed; and
    the per-image arrays and AIS traces."""
    ll, se = mean_and_se(result.unnormalised, blocks)
    metrics: dict[str, Any] = {"K": k, "n_test": len(result.unnormalised), "test_ll_unnormalised": ll}
    metrics["test_ll_se"] = se
    if blocks is not None:
        metrics["test_ll_se_iid"] = mean_and_se(result.unnormalised)[1]
        metrics["se_clusters"] = len(np.unique(blocks))
    arrays: dict[str, np.ndarray] = {"per_image_unnormalised_ll": result.unnormalised}
    log_z: LogZ = result.log_z
    metrics["test_ll"] = ll - log_z.value
    metrics["test_ll_low"], metrics["test_ll_high"] = interval(ll - log_z.value, se, minus=[log_z.band])
    if log_z.method == "normalised":
        metrics["log_z"] = 0.0
        return metrics, arrays
    metrics.update(log_z=log_z.value, log_z_low=log_z.low, log_z_high=log_z.high)
    metrics["log_z_interval_low"], metrics["log_z_interval_high"] = log_z.band.low, log_z.band.high
    if log_z.check is not None:
        metrics.update(check_metrics(log_z.check))
    for label, per_image in (result.conservative or {}).items():
        metrics[f"test_ll_conservative{label}"], metrics[f"test_ll_conservative{label}_se"] = mean_and_se(
            per_image, blocks
        )
        arrays[f"per_image_conservative_ll{label}"] = per_image
    if "_4K" in (result.conservative or {}):
        shift = result.conservative["_4K"] - result.conservative[""]  # paired: the 4K codes include the K
        metrics["raise_4K_shift"], metrics["raise_4K_shift_se"] = mean_and_se(shift, blocks)
    if log_z.exact is not None:
        metrics["exact_log_z"] = log_z.exact
        metrics["test_ll_exact_log_z"] = ll - log_z.exact
    if log_z.ais is not None:
        arrays.update(ais_arrays(log_z.ais, "ais_forward"))
    return metrics, arrays


def check_metrics(check: AISCheck) -> dict[str, Any]:
    """AIS's reliability as metrics (log_z_reliable, with the reasons in log_z_check); a warning when flagged."""
    if not check.reliable:
        log.warning("AIS log Z flagged as unreliable: %s", check.summary)
    return {
        "log_z_ess": check.ess,
        "log_z_half": check.half_log_z,
        "log_z_half_difference": check.difference,
        "log_z_half_difference_band": check.difference_band,
        "log_z_known_state_bound": check.known_state_bound,
        "log_z_reliable": check.reliable,
        "log_z_check": check.summary,
    }


def training_settings(ckpt_path: str | os.PathLike) -> dict[str, float]:
    """The step and weight decay a model was trained with, from its checkpoint's provenance: fine-tuning's
    (the spec's step and decay), or for the RBM on pixels its CD step and L2 decay (config['pixel_rbm'])."""
    made_by = json.loads(json.loads(load_checkpoint(ckpt_path)["provenance"])["config"])
    spec, section = made_by["spec"], made_by.get("finetune") or made_by["pixel_rbm"]
    decay = spec.get("weight_decay")
    return {"lr": spec["lr"] or section["lr"], "weight_decay": section["weight_decay"] if decay is None else decay}


def add_bits_per_dim(metrics: dict[str, float], n_dims: int) -> None:
    """For 8-bit images: each test log-likelihood (nats per image) as bits per dimension, -ll / (D ln 2),
    with its standard error; the discretised likelihood makes this the usual bits/dim of 8-bit data."""
    scale = 1 / (n_dims * math.log(2))
    for key in ("test_ll", "test_ll_conservative", "test_ll_conservative_4K", "test_ll_conservative_long"):
        if key in metrics:
            name = key.replace("test_ll", "test_bpd")
            metrics[name] = -metrics[key] * scale
            metrics[f"{name}_se"] = metrics[f"{key}_se"] * scale
    metrics["test_bpd_low"] = -metrics["test_ll_high"] * scale
    metrics["test_bpd_high"] = -metrics["test_ll_low"] * scale


def ais_arrays(result: AISResult, prefix: str) -> dict[str, np.ndarray]:
    return {
        f"{prefix}/log_weights": result.log_weights,
        f"{prefix}/trace_betas": result.trace_betas,
        f"{prefix}/trace_log_weights": result.trace_log_weights,
        f"{prefix}/estimate": np.array([result.log_z, result.log_z_low, result.log_z_high, result.log_z_base]),
    }
