"""The one epoch loop of every training stage: the stage supplies its step and its validation score, the loop owns
the best epoch (its score, direction and weights), early stopping, resumable checkpoints of all of it, divergence
checks and progress with ETA."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Protocol

import torch

from binlatent.checkpoints import load_checkpoint, save_checkpoint

log = logging.getLogger("binlatent")


class DivergenceError(RuntimeError):
    """Training produced a NaN or infinite value."""


def select_device(name: str) -> torch.device:
    """'auto' is CUDA when present, else CPU; 'cpu' and 'cuda' are taken as they are."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config: device is 'cuda' but no CUDA device is available; use device: auto or cpu")
    return torch.device(name)


def check_finite(stage: str, epoch: int, values: Mapping[str, float], modules: Mapping[str, torch.nn.Module]) -> None:
    """Stop with a message naming the stage, epoch and likely cause if anything is NaN or infinite."""
    bad = [k for k, v in values.items() if not math.isfinite(v)]
    bad += [f"{m}.{p}" for m, mod in modules.items() for p, t in mod.named_parameters() if not torch.isfinite(t).all()]
    if bad:
        raise DivergenceError(
            f"{stage} diverged at epoch {epoch + 1}: {', '.join(bad)} became NaN or infinite. "
            "The learning rate is the likely cause: lower it in the config and rerun; "
            "the last good checkpoint is kept."
        )


def flat_values(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Every leaf of a nested config as 'section.key' -> its JSON text."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat.update(flat_values(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = json.dumps(value, sort_keys=True, default=str)
    return flat


def content_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def job_fingerprint(config: Mapping[str, Any] | None, inputs: Mapping[str, str | Path]) -> dict[str, str]:
    """What a training job's result depends on: every config value it was given (the digest of the code its stage
    runs among them, binlatent.code_digest) and its inputs' contents."""
    inputs_hashed = {f"input {name}": content_hash(path) for name, path in inputs.items()}
    return {**flat_values(config or {}), **inputs_hashed}


def fingerprint_changes(saved: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """What differs between two fingerprints, one 'key: old -> new' per value (contents by 'changed')."""
    changes = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key, "(none)"), current.get(key, "(none)")
        if old != new:
            changes.append(f"{key}: contents changed" if key.startswith("input ") else f"{key}: {old} -> {new}")
    return changes


class Checkpointer:
    """Resumable state of one training stage, kept outside Snakemake's outputs and removed when done.

    The state records the job's fingerprint (`job_fingerprint` of its config sections, code and inputs); a rerun
    resumes only from a state whose fingerprint matches exactly, and otherwise discards it and starts afresh.
    """

    def __init__(
        self,
        path: str | Path,
        every: int,
        config: Mapping[str, Any] | None,
        inputs: Mapping[str, str | Path] | None = None,
    ):
        self.path, self.every, self.config = Path(path), every, config
        self.fingerprint = job_fingerprint(config, inputs or {})

    def load(self) -> dict[str, Any] | None:
        """The saved state of this same job, or None (no state, or one made by other settings, now removed)."""
        if not self.path.exists():
            return None
        saved = load_checkpoint(self.path)
        changes = fingerprint_changes(saved.get("fingerprint", {}), self.fingerprint)
        if changes:
            log.info("discarding resume state from a different configuration or code (%s)", "; ".join(changes))
            self.finish()
            return None
        return saved

    def maybe_save(self, epoch: int, state: Callable[[], dict[str, Any]]) -> None:
        if (epoch + 1) % self.every == 0:
            payload = {"epoch": epoch + 1, **state(), "fingerprint": self.fingerprint}
            save_checkpoint(self.path, payload, self.config)

    def finish(self) -> None:
        self.path.unlink(missing_ok=True)


def format_metrics(metrics: Mapping[str, float]) -> str:
    return " ".join(f"{k}={v:.4f}" for k, v in metrics.items())


class Resumable(Protocol):
    """A part of a training stage's state: a module, an optimiser, persistent chains, a random generator."""

    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any) -> None: ...


class GeneratorState:
    """A torch random generator as a resumable part."""

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"state": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        self.generator.set_state(state["state"])


class BestEpoch:
    """The epoch with the best validation score so far and the weights of `kept` then; early stopping after
    `patience` epochs without a better score. `key` names the score among a step's metrics, `higher` its direction;
    a tie keeps the earlier epoch."""

    def __init__(self, key: str, higher: bool, kept: torch.nn.Module, patience: int | None = None):
        self.key, self.higher, self.kept, self.patience = key, higher, kept, patience
        self.score: float | None = None
        self.epoch = 0  # 1-based; 0 before any epoch is scored
        self.state: dict[str, torch.Tensor] | None = None

    def offer(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Keep epoch (0-based) when it scored better than every epoch before it."""
        value = metrics.get(self.key)
        if value is None:
            return
        if self.score is None or (value > self.score if self.higher else value < self.score):
            self.score, self.epoch, self.state = value, epoch + 1, copy.deepcopy(self.kept.state_dict())

    def should_stop(self, epoch: int) -> bool:
        """Whether `patience` epochs have passed since the best one, at epoch (0-based)."""
        return self.patience is not None and self.score is not None and epoch + 1 - self.epoch >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"score": self.score, "epoch": self.epoch, "state": self.state}

    def load_state_dict(self, saved: Mapping[str, Any]) -> None:
        self.score, self.epoch, self.state = saved["score"], saved["epoch"], saved["state"]


def train_epochs(
    stage: str,
    n_epochs: int,
    step: Callable[[int], dict[str, float]],
    parts: Mapping[str, Resumable],
    checkpointer: Checkpointer,
    score: Callable[[int, Mapping[str, float]], dict[str, float]] | None = None,
    best: BestEpoch | None = None,
    score_every: int = 1,
    scoring: Callable[[], AbstractContextManager] = nullcontext,
) -> list[dict[str, float]]:
    """Run epochs start..n_epochs, resuming from the checkpoint if there is one; return the history.

    Each epoch runs `step(epoch)` (the training metrics), then every `score_every` epochs and at the last
    `score(epoch, metrics)` (the validation metrics), inside the `scoring()` context (the average of the weights
    applied, where there is one); `best` keeps the best-scoring epoch's weights from there. Training ends early when
    `best` says so, and the kept weights are then loaded into its module. `parts` is everything a resumed epoch
    needs (modules, optimisers, chains, generators), saved every checkpointer.every epochs with the history and
    `best`; the modules among them are checked for NaN and infinite values every epoch.
    """
    history: list[dict[str, float]] = []
    start = 0
    modules = {name: part for name, part in parts.items() if isinstance(part, torch.nn.Module)}
    saved = checkpointer.load()
    if saved is not None:
        for name, part in parts.items():
            part.load_state_dict(saved["parts"][name])
        if best is not None:
            best.load_state_dict(saved["best"])
        start, history = int(saved["epoch"]), list(saved["history"])
        log.info("%s: resuming from checkpoint at epoch %d of %d", stage, start, n_epochs)
    t0 = time.perf_counter()
    for epoch in range(start, n_epochs):
        metrics = step(epoch)
        scored = score is not None and validation_epoch(epoch, n_epochs, score_every)
        if scored:
            with scoring():
                metrics.update(score(epoch, metrics))
        check_finite(stage, epoch, metrics, modules)
        if scored and best is not None:
            with scoring():
                best.offer(epoch, metrics)
        history.append({"epoch": epoch + 1, **metrics})
        elapsed = time.perf_counter() - t0
        eta = elapsed / (epoch + 1 - start) * (n_epochs - epoch - 1)
        log.info(
            "%s epoch %d/%d %s elapsed=%.1fs eta=%.1fs",
            stage,
            epoch + 1,
            n_epochs,
            format_metrics(metrics),
            elapsed,
            eta,
        )
        checkpointer.maybe_save(
            epoch,
            lambda: {
                "parts": {name: part.state_dict() for name, part in parts.items()},
                "best": None if best is None else best.state_dict(),
                "history": history,
            },
        )
        if best is not None and best.should_stop(epoch):
            log.info("%s: early stop at epoch %d", stage, epoch + 1)
            break
    if best is not None and best.state is not None:
        best.kept.load_state_dict(best.state)
        log.info("%s: keeping epoch %d of %d (%s %.4f)", stage, best.epoch, n_epochs, best.key, best.score)
    return history


def history_arrays(history: list[dict[str, float]], prefix: str) -> dict[str, Any]:
    """Training curves as arrays named `prefix/metric`; NaN at epochs that did not score a metric (validation
    runs every few epochs)."""
    keys = dict.fromkeys(k for h in history for k in h)
    return {f"{prefix}/{k}": [h.get(k, math.nan) for h in history] for k in keys}


VALIDATION_SEED_OFFSET = 1_000_003  # the validation stream's seed: apart from every stage's


def validation_epoch(epoch: int, n_epochs: int, every: int) -> bool:
    """Whether epoch (0-based) of n_epochs scores the validation set: every `every` epochs, and the last."""
    return (epoch + 1) % every == 0 or epoch + 1 == n_epochs


def validation_generator(generator: torch.Generator) -> torch.Generator:
    """Common random numbers for the validation scores: a generator seeded alike at every epoch (from the training
    generator's seed, offset by VALIDATION_SEED_OFFSET), so that two epochs' scores differ by the model alone, not by
    the draws of AIS or of q; training's own stream is left alone."""
    seed = generator.initial_seed() + VALIDATION_SEED_OFFSET
    return torch.Generator(device=generator.device).manual_seed(seed)


def adamw(params: Any, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with decoupled weight decay, in torch's fused kernel (one pass over each parameter per step)."""
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)


def batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """A fresh shuffled cut of range(n) into batches (on the generator's device)."""
    return list(torch.randperm(n, generator=generator, device=generator.device).split(batch_size))


class ParameterAverage:
    """An exponential moving average of a module's floating-point state (Polyak averaging, with which PixelCNN++
    is evaluated): after each optimiser step, average <- decay * average + (1 - decay) * current. Validation scores
    and the saved model use the average; `decay` 0 keeps none, and the module's own weights are used."""

    def __init__(self, module: torch.nn.Module, decay: float):
        self.module, self.decay = module, float(decay)
        self.average = [t.detach().clone() for t in self._state()] if self.decay else []

    def state_dict(self) -> list[torch.Tensor]:
        return self.average

    def load_state_dict(self, average: list[torch.Tensor]) -> None:
        """The saved average, on the module's devices (none saved: no average kept)."""
        current = self._state() if average else []
        self.average = [t.to(s.device) for t, s in zip(average, current, strict=True)]

    def _state(self) -> list[torch.Tensor]:
        return [t for t in self.module.state_dict().values() if t.is_floating_point()]

    @torch.no_grad()
    def update(self) -> None:
        if self.average:
            torch._foreach_lerp_(self.average, self._state(), 1 - self.decay)

    @contextmanager
    def applied(self) -> Iterator[None]:
        """The module holds the average inside the block and its own weights again after it."""
        if not self.average:
            yield
            return
        current = [t.detach().clone() for t in self._state()]
        self._copy_into_module(self.average)
        try:
            yield
        finally:
            self._copy_into_module(current)

    @torch.no_grad()
    def _copy_into_module(self, values: list[torch.Tensor]) -> None:
        torch._foreach_copy_(self._state(), values)
