"""Stage one (autoencoder with a noisy sigmoid code layer) and stage two (RBM on the codes)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from binlatent.networks import Decoder, Encoder
from binlatent.priors import enumerable
from binlatent.rbm import (
    EPOCH_ENUMERATION_UNITS,
    RBM,
    PCDState,
    bernoulli,
    contrastive_step,
    exact_log_likelihood,
    reconstruction_error,
)
from binlatent.training import Checkpointer, ParameterAverage, adamw, batches, train_epochs, validation_epoch

log = logging.getLogger("binlatent")


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
    best: dict[str, Any] = {"nll": float("inf"), "epoch": 0, "state": None}

    def epoch_fn(epoch: int) -> dict[str, float]:
        train = autoencoder_epoch(encoder, decoder, optimiser, average, x_train, cfg, generator)
        with average.applied():
            valid = binary_code_nll(encoder, decoder, x_valid)
            if valid < best["nll"]:
                best.update(nll=valid, epoch=epoch + 1, state=copy.deepcopy(networks.state_dict()))
        return {"train_nll": train, "valid_nll_binary_code": valid}

    def snapshot() -> dict[str, Any]:
        return {
            "encoder": encoder.state_dict(),
            "decoder": decoder.state_dict(),
            "optimiser": optimiser.state_dict(),
            "rng": generator.get_state(),
            "average": average.average,
            "best": best,
        }

    def restore(state: dict[str, Any]) -> None:
        encoder.load_state_dict(state["encoder"])
        decoder.load_state_dict(state["decoder"])
        optimiser.load_state_dict(state["optimiser"])
        generator.set_state(state["rng"])
        average.average = list(state["average"])
        best.update(state["best"])

    history = train_epochs(
        "stage 1 (autoencoder)",
        cfg["epochs"],
        epoch_fn,
        snapshot,
        restore,
        checkpointer,
        {"encoder": encoder, "decoder": decoder},
    )
    if best["state"] is not None:
        networks.load_state_dict(best["state"])
        log.info("stage 1 (autoencoder): keeping epoch %d of %d (validation NLL %.4f)", best["epoch"], cfg["epochs"],
                 best["nll"])  # fmt: skip
    return history


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


def layer_settings(prior: Mapping[str, Any], depth: int) -> dict[str, Any]:
    """config['prior']'s training settings for the layer `depth` (0 = the bottom) with its entry of
    prior.layer_overrides; without the layer sizes, so adding a layer on top changes no layer below."""
    overrides = prior.get("layer_overrides", [])
    settings = {k: v for k, v in prior.items() if k not in ("n_hidden", "layer_overrides")}
    return {**settings, **(overrides[depth] if depth < len(overrides) else {})}


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
) -> tuple[list[dict[str, float]], dict[str, torch.Tensor]]:
    """Fit one RBM layer to binary data with the CD-1 -> CD-k -> PCD schedule of `cfg`.

    With `log_z` (an estimate of the current log Z), every cfg['valid_every'] epochs and the last also record
    the validation log-likelihood, and the returned state is the one of those epochs with the best; else the
    last epoch's.
    Returns the history and that state dict.
    """
    plan = expand_schedule(cfg["schedule"], cfg["lr"])
    state = PCDState(rbm, cfg["batch_size"], generator)
    exact = enumerable(rbm, EPOCH_ENUMERATION_UNITS)
    best: dict[str, Any] = {"valid": -float("inf"), "state": copy.deepcopy(rbm.state_dict())}

    @torch.no_grad()
    def epoch_fn(epoch: int) -> dict[str, float]:
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
        if log_z is not None and validation_epoch(epoch, len(plan), cfg["valid_every"]):
            metrics["log_z"] = log_z()
            metrics["valid_log_likelihood"] = float(-rbm.free_energy(v_valid).double().mean()) - metrics["log_z"]
            if metrics["valid_log_likelihood"] > best["valid"]:
                best.update(valid=metrics["valid_log_likelihood"], state=copy.deepcopy(rbm.state_dict()))
        return metrics

    def snapshot() -> dict[str, Any]:
        saved = {"rbm": rbm.state_dict(), "pcd": state.state_dict(), "rng": generator.get_state()}
        return {**saved, "best_state": best["state"], "best_valid": best["valid"]}

    def restore(saved: dict[str, Any]) -> None:
        rbm.load_state_dict(saved["rbm"])
        state.load_state_dict(saved["pcd"])
        generator.set_state(saved["rng"])
        best.update(state=saved["best_state"], valid=saved["best_valid"])

    with torch.no_grad():
        rbm.init_from_data_marginals(v_train)
    history = train_epochs(stage, len(plan), epoch_fn, snapshot, restore, checkpointer, {"rbm": rbm})
    return history, best["state"] if log_z is not None else rbm.state_dict()
