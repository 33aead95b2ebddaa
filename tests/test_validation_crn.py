"""Validation scores with common random numbers: the same model scores the same every epoch, and the difference
between two epochs' models is far less noisy than with fresh draws, so the best epoch is chosen by the model."""

from __future__ import annotations

import copy

import numpy as np
import torch
from helpers import SMALL_NETWORK, built_model

from binlatent.finetune import JointTraining
from binlatent.image import ImageFormat
from binlatent.variants import ModelSpec

CFG = {
    "estimator": "vimco", "K": 3, "lr": 1e-3, "prior_lr": 1e-3, "weight_decay": 0.0, "n_chains": 10,
    "gibbs_steps": 1, "batch_size": 20, "valid_K": 3, "valid_ais": {"runs": 10, "schedule": [[1.0, 20]]},
}  # fmt: skip


def two_epochs_models(generator: torch.Generator):
    """A hybrid with a 24 x 24 RBM prior (log Z by AIS, not enumerated), before and after one training epoch."""
    spec = ModelSpec("crn", "rbm", False, False, "vimco", 3, 24, 1e-3, network=SMALL_NETWORK)
    network = {"kind": "mlp", "n_latent": 24, "hidden": [16], "activation": "tanh"}
    model = built_model(spec, ImageFormat((16,), "binary"), network)
    x_train, x_valid = ((torch.rand(n, 16, generator=generator) < 0.3).float() for n in (100, 50))
    before = copy.deepcopy(model)
    JointTraining(model, CFG, generator).epoch(x_train)
    return before, model, x_train, x_valid


def score(model, seed: int, x_train, x_valid) -> float:
    return JointTraining(model, CFG, torch.Generator().manual_seed(seed)).validation(x_train, x_valid)[0]


def test_common_random_numbers_make_validation_scores_repeatable_and_their_differences_quiet(generator):
    before, after, x_train, x_valid = two_epochs_models(generator)
    training = JointTraining(after, CFG, torch.Generator().manual_seed(3))
    state = training.generator.get_state()
    assert training.validation(x_train, x_valid) == training.validation(x_train, x_valid)
    assert torch.equal(training.generator.get_state(), state)  # training's stream is untouched
    seeds = range(12)
    common = [score(after, s, x_train, x_valid) - score(before, s, x_train, x_valid) for s in seeds]
    fresh = [score(after, s, x_train, x_valid) - score(before, s + 100, x_train, x_valid) for s in seeds]
    assert np.std(common) < 0.5 * np.std(fresh), (np.std(common), np.std(fresh))
