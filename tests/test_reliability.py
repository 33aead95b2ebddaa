"""Divergence stops a stage with a message, keeping the last good checkpoint."""

from __future__ import annotations

import pytest
import torch

from binlatent.checkpoints import load_checkpoint
from binlatent.pretrain import fit_rbm
from binlatent.rbm import RBM
from binlatent.training import Checkpointer, DivergenceError

PRIOR = {
    "schedule": [{"method": "cd", "k": 1, "epochs": 2}, {"method": "pcd", "k": 1, "epochs": 3}],
    "batch_size": 50,
    "lr": 0.05,
    "lr_decay": 0.0,
    "initial_momentum": 0.5,
    "momentum": 0.9,
    "momentum_warmup_epochs": 1,
    "weight_decay": 0.0,
}


def test_a_diverging_learning_rate_stops_the_stage_and_keeps_the_last_good_checkpoint(tmp_path, generator):
    data = (torch.rand(200, 10, generator=generator) < 0.3).float()
    state = tmp_path / "state.pt"
    rbm = RBM(10, 8)
    history = fit_rbm(
        rbm, data, data, {**PRIOR, "schedule": PRIOR["schedule"][:1]}, generator, Checkpointer(state, 1, None)
    )
    assert len(history) == 2 and state.exists()
    good = load_checkpoint(state)
    with pytest.raises(DivergenceError, match=r"stage 2 \(RBM prior\) diverged at epoch 3: .*learning rate"):
        fit_rbm(rbm, data, data, {**PRIOR, "lr": 1e38}, generator, Checkpointer(state, 1, None))
    kept = load_checkpoint(state)
    assert kept["epoch"] == good["epoch"] == 2
    assert all(torch.isfinite(v).all() for v in kept["parts"]["rbm"].values())
