"""Joint fine-tuning of encoder, decoder and prior on the K-sample importance-weighted bound."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch

from binlatent.estimators import ESTIMATORS, iwae_bound
from binlatent.models import HybridModel
from binlatent.priors import LogZSettings
from binlatent.training import (
    Checkpointer,
    ParameterAverage,
    adamw,
    batches,
    train_epochs,
    validation_epoch,
    validation_generator,
)


class JointTraining:
    """One model's joint training on L_K: the optimiser, the average of the weights (cfg['ema'], 0 for none) and
    the prior's persistent chains, with an epoch over the training images and the validation bound as separate
    steps."""

    def __init__(self, model: HybridModel, cfg: Mapping[str, Any], generator: torch.Generator):
        self.model, self.cfg, self.generator = model, cfg, generator
        self.surrogate_fn = ESTIMATORS[cfg["estimator"]]
        networks = [*model.encoder.parameters(), *model.decoder.parameters()]
        # No decay on the prior: an RBM's negative phase already ties it to the model, and a factorised prior is a
        # normalised distribution that learns at the networks' rate. An RBM takes a step of its own.
        prior_group = {"params": list(model.prior.parameters()), "weight_decay": 0.0}
        if model.prior.own_step:
            prior_group["lr"] = cfg["prior_lr"]
        self.optimiser = adamw([{"params": networks}, prior_group], cfg["lr"], cfg["weight_decay"])
        self.chains = model.prior.start_chains(cfg["n_chains"], generator)
        self.average = ParameterAverage(model, cfg.get("ema", 0.0))

    def epoch(self, x_train: torch.Tensor) -> float:
        """One pass over shuffled batches; the mean unnormalised L_K of the training images (nats)."""
        cfg, model, generator = self.cfg, self.model, self.generator
        total = 0.0
        for idx in batches(len(x_train), cfg["batch_size"], generator):
            log_w, _, log_q = model.log_weights(x_train[idx], cfg["K"], generator)
            negative, self.chains = model.prior.negative_phase(self.chains, cfg["gibbs_steps"], generator)
            surrogate = self.surrogate_fn(log_w, log_q) + negative
            self.optimiser.zero_grad(set_to_none=True)
            (-surrogate).backward()
            self.optimiser.step()
            self.average.update()
            total += float(iwae_bound(log_w.detach()).sum())
        return total / len(x_train)

    def validation(self, x_train: torch.Tensor, x_valid: torch.Tensor) -> tuple[float, float]:
        """(mean L_K of the validation images minus log Z, log Z): log Z exact when small, else AIS with
        cfg['valid_ais'] from codes of the training images; with common random numbers (`validation_generator`),
        the same draws every epoch. The caller applies the average of the weights where there is one."""
        generator = validation_generator(self.generator)
        log_z = self.model.log_z(x_train, LogZSettings.per_epoch(self.cfg["valid_ais"]), generator).value
        bound = self.model.unnormalised_log_likelihood(x_valid, self.cfg["valid_K"], generator).mean()
        return float(bound) - log_z, log_z


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

    The validation bound is scored every cfg['valid_every'] epochs and at the last (`validation_epoch`), and
    the best epoch is chosen among those; the prior's log Z enters the validation bound only. With cfg['ema'] the
    validation bound, and the state kept, are those of the weights' moving average. Returns the history and the
    state dict of the epoch with the best validation bound.
    """
    training = JointTraining(model, cfg, generator)
    device = model.device
    best: dict[str, Any] = {"bound": -float("inf"), "state": copy.deepcopy(model.state_dict())}

    def epoch_fn(epoch: int) -> dict[str, float]:
        train = training.epoch(x_train)
        metrics = {"train_bound_unnormalised": train}
        if not validation_epoch(epoch, cfg["epochs"], cfg["valid_every"]):
            return metrics
        with training.average.applied():
            valid, log_z = training.validation(x_train, x_valid)
            if valid > best["bound"]:
                best.update(bound=valid, epoch=epoch + 1, state=copy.deepcopy(model.state_dict()))
        return {**metrics, "train_bound": train - log_z, "valid_bound": valid, "log_z": log_z}

    def snapshot() -> dict[str, Any]:
        state = {"model": model.state_dict(), "optimiser": training.optimiser.state_dict()}
        state.update(rng=generator.get_state(), best_state=best["state"], best_bound=best["bound"])
        state["average"] = training.average.average
        if training.chains is not None:
            state["chains"] = training.chains
        return state

    def restore(saved: dict[str, Any]) -> None:
        model.load_state_dict(saved["model"])
        training.optimiser.load_state_dict(saved["optimiser"])
        generator.set_state(saved["rng"])
        best.update(state=saved["best_state"], bound=saved["best_bound"])
        training.average.average = [t.to(device) for t in saved["average"]]
        if "chains" in saved:
            training.chains = saved["chains"].to(device)

    def should_stop(history: list[dict[str, float]]) -> bool:
        scored = [h for h in history if "valid_bound" in h]
        if not scored:
            return False
        best_epoch = max(scored, key=lambda h: h["valid_bound"])["epoch"]
        return history[-1]["epoch"] - best_epoch >= cfg["patience"]

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
