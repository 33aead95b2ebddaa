"""Joint fine-tuning of encoder, decoder and prior on the K-sample importance-weighted bound."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch

from binlatent.estimators import ESTIMATORS, iwae_bound
from binlatent.models import HybridModel
from binlatent.priors import LogZSettings
from binlatent.training import Checkpointer, batches, train_epochs


def mean_bound(model: HybridModel, x: torch.Tensor, k: int, generator) -> float:
    """Mean unnormalised L_K over the rows of x (log Z of an RBM prior not subtracted), nats."""
    chunk = min(500, model.images_per_chunk(k))
    with torch.no_grad():
        total = sum(float(iwae_bound(model.log_weights(xb, k, generator)[0]).sum()) for xb in x.split(chunk))
    return total / len(x)


def train_on_bound(
    model: HybridModel,
    x_train: torch.Tensor,
    x_valid: torch.Tensor,
    cfg: Mapping[str, Any],
    generator: torch.Generator,
    checkpointer: Checkpointer,
) -> tuple[list[dict[str, float]], dict[str, torch.Tensor]]:
    """Maximise L_K: decoder by backprop (weights normalised by autograd), prior by the weighted
    positive phase and a PCD negative phase, encoder by `cfg['estimator']` (VIMCO or RWS).

    The prior's log Z enters the validation bound only (exact when small, else AIS with cfg['valid_ais'] from
    codes of the training images). Returns the history and the state dict of the epoch with the best
    validation bound.
    """
    surrogate_fn = ESTIMATORS[cfg["estimator"]]
    networks = [*model.encoder.parameters(), *model.decoder.parameters()]
    # No decay on the prior: an RBM's negative phase already ties it to the model, and a factorised prior is a
    # normalised distribution that learns at the networks' rate. An RBM takes a step of its own.
    prior_group = {"params": list(model.prior.parameters()), "weight_decay": 0.0}
    if model.prior.own_step:
        prior_group["lr"] = cfg["prior_lr"]
    optimiser = torch.optim.AdamW([{"params": networks}, prior_group], lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    device = model.device
    chains = model.prior.start_chains(cfg["n_chains"], generator)
    best: dict[str, Any] = {"bound": -float("inf"), "state": copy.deepcopy(model.state_dict())}

    def epoch_fn(epoch: int) -> dict[str, float]:
        nonlocal chains
        total = 0.0
        for idx in batches(len(x_train), cfg["batch_size"], generator):
            log_w, _, log_q = model.log_weights(x_train[idx], cfg["K"], generator)
            negative, chains = model.prior.negative_phase(chains, cfg["gibbs_steps"], generator)
            surrogate = surrogate_fn(log_w, log_q) + negative
            optimiser.zero_grad(set_to_none=True)
            (-surrogate).backward()
            optimiser.step()
            total += float(iwae_bound(log_w.detach()).sum())
        log_z_now = model.log_z(x_train, LogZSettings.per_epoch(cfg["valid_ais"]), generator).value
        valid = mean_bound(model, x_valid, cfg["valid_K"], generator) - log_z_now
        if valid > best["bound"]:
            best.update(bound=valid, epoch=epoch + 1, state=copy.deepcopy(model.state_dict()))
        return {"train_bound": total / len(x_train) - log_z_now, "valid_bound": valid, "log_z": log_z_now}

    def snapshot() -> dict[str, Any]:
        state = {"model": model.state_dict(), "optimiser": optimiser.state_dict(), "rng": generator.get_state()}
        state["best_state"], state["best_bound"] = best["state"], best["bound"]
        if chains is not None:
            state["chains"] = chains
        return state

    def restore(saved: dict[str, Any]) -> None:
        nonlocal chains
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        generator.set_state(saved["rng"])
        best.update(state=saved["best_state"], bound=saved["best_bound"])
        if "chains" in saved:
            chains = saved["chains"].to(device)

    def should_stop(history: list[dict[str, float]]) -> bool:
        best_epoch = max(range(len(history)), key=lambda i: history[i]["valid_bound"])
        return len(history) - 1 - best_epoch >= cfg["patience"]

    history = train_epochs(
        f"fine-tuning ({model.prior.kind} prior, {cfg['estimator']})",
        cfg["epochs"],
        epoch_fn,
        snapshot,
        restore,
        checkpointer,
        {"model": model},
        should_stop,
    )
    return history, best["state"]
