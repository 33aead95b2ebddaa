"""Stage one (autoencoder with a noisy sigmoid code layer) and stage two (RBM on the codes)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from binlatent.contrastive import PCDState, contrastive_step, reconstruction_error
from binlatent.enumeration import EPOCH_ENUMERATION_UNITS, exact_log_likelihood
from binlatent.networks import Decoder, Encoder
from binlatent.priors import enumerable
from binlatent.rbm import RBM
from binlatent.sampling import bernoulli
from binlatent.training import (
    BestEpoch,
    Checkpointer,
    GeneratorState,
    ParameterAverage,
    adamw,
    batches,
    train_epochs,
)


def noisy_code(logits: torch.Tensor, noise_std: float, generator=None) -> torch.Tensor:
    """sigmoid(logits + noise): Gaussian noise on the logits pushes the code units towards 0 or 1."""
    noise = torch.randn(logits.shape, generator=generator, device=logits.device) * noise_std
    return torch.sigmoid(logits + noise)


def autoencoder_nll(
    encoder: Encoder, decoder: Decoder, x: torch.Tensor, noise_std: float, generator=None
) -> torch.Tensor:
    """Mean decoder negative log-likelihood of x given its noisy code (nats per image)."""
    code = noisy_code(encoder(x), noise_std, generator).unsqueeze(1)  # (batch, 1, n_latent)
    return -decoder.log_prob(x, code).mean()


def binary_code_nll(encoder: Encoder, decoder: Decoder, x: torch.Tensor, batch_size: int = 1000) -> float:
    """Mean -log p(x | z) with the thresholded binary code z = [q(z|x) > 0.5] (nats per image)."""
    with torch.no_grad():
        total = sum(
            float(decoder.log_prob(xb, (encoder(xb) > 0).float().unsqueeze(1)).sum()) for xb in x.split(batch_size)
        )
    return -total / len(x)


def autoencoder_epoch(
    encoder: Encoder,
    decoder: Decoder,
    optimiser: torch.optim.Optimizer,
    average: ParameterAverage,
    x_train: torch.Tensor,
    cfg: Mapping[str, Any],
    generator: torch.Generator,
) -> float:
    """One stage-one pass over shuffled batches, the weights' average updated after each step; the mean training
    loss (nats per image)."""
    total = 0.0
    for idx in batches(len(x_train), cfg["batch_size"], generator):
        loss = autoencoder_nll(encoder, decoder, x_train[idx], cfg["noise_std"], generator)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        average.update()
        total += float(loss.detach()) * len(idx)
    return total / len(x_train)


def train_autoencoder(
    encoder: Encoder,
    decoder: Decoder,
    x_train: torch.Tensor,
    x_valid: torch.Tensor,
    cfg: Mapping[str, Any],
    generator: torch.Generator,
    checkpointer: Checkpointer,
) -> list[dict[str, float]]:
    """Stage one: train encoder and decoder as an autoencoder whose code is sigmoid(logits + noise), scoring the
    validation NLL of the binary code every epoch; the networks end as the epoch with the best score, as fine-tuning
    keeps its best epoch. With cfg['ema'] the score, and the state kept, are those of the weights' moving average."""
    networks = torch.nn.ModuleList([encoder, decoder])
    optimiser = adamw(list(networks.parameters()), cfg["lr"], cfg["weight_decay"])
    average = ParameterAverage(networks, cfg.get("ema", 0.0))

    def step(epoch: int) -> dict[str, float]:
        return {"train_nll": autoencoder_epoch(encoder, decoder, optimiser, average, x_train, cfg, generator)}

    def score(epoch: int, metrics: Mapping[str, float]) -> dict[str, float]:
        return {"valid_nll_binary_code": binary_code_nll(encoder, decoder, x_valid)}

    parts = {"encoder": encoder, "decoder": decoder, "optimiser": optimiser, "average": average}
    return train_epochs(
        "stage 1 (autoencoder)",
        cfg["epochs"],
        step,
        {**parts, "rng": GeneratorState(generator)},
        checkpointer,
        score,
        BestEpoch("valid_nll_binary_code", higher=False, kept=networks),
        scoring=average.applied,
    )


@torch.no_grad()
def binary_codes(encoder: Encoder, x: torch.Tensor, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The codes of x that stage two fits: q(z_i = 1|x) and one binary sample z ~ q(z|x) (uint8)."""
    probs = encoder.code_mean(x)
    return probs, bernoulli(probs, generator).to(torch.uint8)


@torch.no_grad()
def hidden_codes(rbm: RBM, v: torch.Tensor, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The next layer's data from binary data v: p(h_j = 1|v) and one binary sample h ~ p(h|v) (uint8)."""
    probs = rbm.hidden_probs(v)
    return probs, bernoulli(probs, generator).to(torch.uint8)


def expand_schedule(schedule: Sequence[Mapping[str, Any]], lr: float) -> list[tuple[bool, int, float]]:
    """Per-epoch (persistent, k, learning rate) from phases like [{method: cd, k: 1, epochs: 10},
    {method: pcd, k: 1, epochs: 30, lr: 0.005}]; a phase without `lr` uses `lr`."""
    return [
        (phase["method"] == "pcd", int(phase["k"]), float(phase.get("lr", lr)))
        for phase in schedule
        for _ in range(int(phase["epochs"]))
    ]


def fit_rbm(
    rbm: RBM,
    v_train: torch.Tensor,
    v_valid: torch.Tensor,
    cfg: Mapping[str, Any],
    generator: torch.Generator,
    checkpointer: Checkpointer,
    log_z: Callable[[], float] | None = None,
    stage: str = "stage 2 (RBM prior)",
) -> list[dict[str, float]]:
    """Fit one RBM layer to binary data with the CD-1 -> CD-k -> PCD schedule of `cfg`; returns the history.

    With `log_z` (an estimate of the current log Z), every cfg['valid_every'] epochs and the last also record
    the validation log-likelihood, and the RBM ends as the epoch of those with the best; else as the last epoch.
    """
    plan = expand_schedule(cfg["schedule"], cfg["lr"])
    state = PCDState(rbm, cfg["batch_size"], generator)
    exact = enumerable(rbm, EPOCH_ENUMERATION_UNITS)

    @torch.no_grad()
    def step(epoch: int) -> dict[str, float]:
        persistent, k, phase_lr = plan[epoch]
        lr = phase_lr / (1 + cfg["lr_decay"] * epoch)
        momentum = cfg["momentum"] if epoch >= cfg["momentum_warmup_epochs"] else cfg["initial_momentum"]
        for idx in batches(len(v_train), cfg["batch_size"], generator):
            if len(idx) == cfg["batch_size"]:  # CD pairs each row with a chain: whole batches only
                batch = torch.index_select(v_train, 0, idx, out=state.batch(len(idx)))
                contrastive_step(rbm, batch, state, k, persistent, lr, momentum, cfg["weight_decay"], generator)
        metrics = {
            "k": float(k),
            "persistent": float(persistent),
            "train_reconstruction": reconstruction_error(rbm, v_train),
            "valid_reconstruction": reconstruction_error(rbm, v_valid),
            "valid_free_energy_gap": float(rbm.free_energy(v_valid).mean() - rbm.free_energy(v_train).mean()),
        }
        if exact:
            metrics["train_exact_log_likelihood"] = exact_log_likelihood(rbm, v_train)
            metrics["valid_exact_log_likelihood"] = exact_log_likelihood(rbm, v_valid)
        return metrics

    @torch.no_grad()
    def score(epoch: int, metrics: Mapping[str, float]) -> dict[str, float]:
        value = log_z()
        return {"log_z": value, "valid_log_likelihood": float(-rbm.free_energy(v_valid).double().mean()) - value}

    with torch.no_grad():
        rbm.init_from_data_marginals(v_train)
    scored = log_z is not None
    return train_epochs(
        stage,
        len(plan),
        step,
        {"rbm": rbm, "pcd": state, "rng": GeneratorState(generator)},
        checkpointer,
        score if scored else None,
        BestEpoch("valid_log_likelihood", higher=True, kept=rbm) if scored else None,
        score_every=cfg["valid_every"] if scored else 1,
    )
