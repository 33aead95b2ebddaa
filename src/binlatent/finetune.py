"""Joint fine-tuning of encoder, decoder and prior on the K-sample importance-weighted bound."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import torch

from binlatent.estimators import ESTIMATORS, iwae_bound, pcd_negative_phase
from binlatent.models import HybridModel, RBMPrior, images_per_chunk
from binlatent.training import Checkpointer, batches, train_epochs


def mean_bound(model: HybridModel, x: torch.Tensor, k: int, generator) -> float:
    """Mean unnormalised L_K over the rows of x (log Z of an RBM prior not subtracted), nats."""
    chunk = min(500, images_per_chunk(model, k))
    with torch.no_grad():
        total = sum(float(iwae_bound(model.log_weights(xb, k, generator)[0]).sum()) for xb in x.split(chunk))
    return total / len(x)


def finetune(
    model: HybridModel,
    x_train: torch.Tensor,
    x_valid: torch.Tensor,
    cfg: Mapping[str, Any],
    generator: torch.Generator,
    checkpointer: Checkpointer,
    log_z: Callable[[], float],
) -> tuple[list[dict[str, float]], dict[str, torch.Tensor]]:
    """Maximise L_K: decoder by backprop (weights normalised by autograd), prior by the weighted
    positive phase and a PCD negative phase, encoder by `cfg['estimator']` (VIMCO or RWS).

    `log_z()` estimates the prior's log Z for the validation bound only. Returns the history and
    the state dict of the epoch with the best validation bound.
    """
    surrogate_fn = ESTIMATORS[cfg["estimator"]]
    rbm = model.prior.rbm if isinstance(model.prior, RBMPrior) else None
    networks = [*model.encoder.parameters(), *model.decoder.parameters()]
    # No decay on the prior: an RBM's negative phase already ties it to the model, and a factorised prior is a
    # normalised distribution that learns at the networks' rate. An RBM takes a step of its own.
    prior_group = {"params": list(model.prior.parameters()), "weight_decay": 0.0}
    if rbm is not None:
        prior_group["lr"] = cfg["prior_lr"]
    optimiser = torch.optim.AdamW([{"params": networks}, prior_group], lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    device = next(model.parameters()).device
    chains = rbm.gibbs(torch.zeros(cfg["n_chains"], rbm.n_visible, device=device), 1, generator) if rbm else None
    best: dict[str, Any] = {"bound": -float("inf"), "state": copy.deepcopy(model.state_dict())}

    def epoch_fn(epoch: int) -> dict[str, float]:
        nonlocal chains
        total = 0.0
        for idx in batches(len(x_train), cfg["batch_size"], generator):
            log_w, _, log_q = model.log_weights(x_train[idx], cfg["K"], generator)
            surrogate = surrogate_fn(log_w, log_q)
            if rbm is not None:
                negative, chains = pcd_negative_phase(rbm, chains, cfg["gibbs_steps"], generator)
                surrogate = surrogate + negative
            optimiser.zero_grad(set_to_none=True)
            (-surrogate).backward()
            optimiser.step()
            total += float(iwae_bound(log_w.detach()).sum())
        log_z_now = log_z()
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
