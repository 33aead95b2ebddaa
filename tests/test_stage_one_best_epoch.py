"""Stage one ends as its epoch with the best validation score, as fine-tuning does, with and without averaging."""

from __future__ import annotations

import pytest
import torch

from binlatent.image import ImageFormat
from binlatent.networks import build_networks
from binlatent.pretrain import binary_code_nll, train_autoencoder
from binlatent.training import Checkpointer

NETWORK = {"kind": "mlp", "n_latent": 8, "hidden": [64], "activation": "tanh", "decoder": "mirrored"}


@pytest.mark.parametrize("ema", [0.0, 0.5])
def test_stage_one_keeps_the_epoch_with_the_best_validation_nll(tmp_path, ema):
    torch.manual_seed(0)
    encoder, decoder = build_networks(ImageFormat((20,), "binary"), NETWORK)
    draw = torch.Generator().manual_seed(1)
    x_train, x_valid = ((torch.rand(n, 20, generator=draw) < 0.3).float() for n in (12, 200))
    cfg = {"epochs": 12, "batch_size": 4, "lr": 0.05, "noise_std": 2.0, "weight_decay": 0.0, "ema": ema}
    history = train_autoencoder(
        encoder,
        decoder,
        x_train,
        x_valid,
        cfg,
        torch.Generator().manual_seed(2),
        Checkpointer(tmp_path / "s.pt", 100, None),
    )
    valid = [h["valid_nll_binary_code"] for h in history]
    assert min(valid) < valid[-1] - 0.1, valid  # 12 random rows overfit: the last epoch is not the best
    assert binary_code_nll(encoder, decoder, x_valid) == pytest.approx(min(valid), rel=1e-6)
