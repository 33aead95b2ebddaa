"""Joint fine-tuning of encoder, decoder and prior on the K-sample importance-weighted bound."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from binlatent.estimators import ESTIMATORS, iwae_bound
from binlatent.models import HybridModel
from binlatent.priors import LogZSettings
from binlatent.training import (
    BestEpoch,
    Checkpointer,
    GeneratorState,
    ParameterAverage,
    adamw,
    batches,
    train_epochs,
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

    def state_dict(self) -> dict[str, Any]:
        """The optimiser, the average of the weights and the persistent chains: what resumes training."""
        return {"optimiser": self.optimiser.state_dict(), "average": self.average.state_dict(), "chains": self.chains}

    def load_state_dict(self, saved: Mapping[str, Any]) -> None:
        self.optimiser.load_state_dict(saved["optimiser"])
        self.average.load_state_dict(saved["average"])
        if saved["chains"] is not None:
            self.chains = saved["chains"].to(self.model.device)

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
) -> list[dict[str, float]]:
    """Maximise L_K: decoder by backprop (weights normalised by autograd), prior by the weighted
    positive phase and a PCD negative phase, encoder by `cfg['estimator']` (VIMCO or RWS); returns the history.

    The validation bound is scored every cfg['valid_every'] epochs and at the last, and the model ends as the
    epoch with the best of those (training stops cfg['patience'] epochs after it); the prior's log Z enters the
    validation bound only. With cfg['ema'] the validation bound, and the state kept, are those of the weights'
    moving average.
    """
    training = JointTraining(model, cfg, generator)

    def step(epoch: int) -> dict[str, float]:
        return {"train_bound_unnormalised": training.epoch(x_train)}

    def score(epoch: int, metrics: Mapping[str, float]) -> dict[str, float]:
        valid, log_z = training.validation(x_train, x_valid)
        return {"train_bound": metrics["train_bound_unnormalised"] - log_z, "valid_bound": valid, "log_z": log_z}

    return train_epochs(
        f"fine-tuning ({model.prior.kind} prior, {cfg['estimator']})",
        cfg["epochs"],
        step,
        {"model": model, "training": training, "rng": GeneratorState(generator)},
        checkpointer,
        score,
        BestEpoch("valid_bound", higher=True, kept=model, patience=cfg["patience"]),
        score_every=cfg["valid_every"],
        scoring=training.average.applied,
    )
