"""Decoupled weight decay of the encoder and decoder (AdamW) shrinks the networks."""

from __future__ import annotations

import torch

from binlatent.image import ImageFormat
from binlatent.networks import build_networks
from binlatent.pretrain import train_autoencoder
from binlatent.training import Checkpointer

NETWORK = {"kind": "mlp", "n_latent": 4, "hidden": [16], "activation": "tanh", "decoder": "mirrored"}


def stage_one_weight_norm(weight_decay: float, tmp_path) -> float:
    torch.manual_seed(0)
    encoder, decoder = build_networks(ImageFormat((12,), "binary"), NETWORK)
    x = (torch.rand(40, 12, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    cfg = {"epochs": 5, "batch_size": 10, "lr": 0.01, "noise_std": 2.0, "weight_decay": weight_decay}
    train_autoencoder(
        encoder,
        decoder,
        x,
        x,
        cfg,
        torch.Generator().manual_seed(2),
        Checkpointer(tmp_path / f"{weight_decay}.pt", 100, None),
    )
    return float(sum(p.detach().square().sum() for p in [*encoder.parameters(), *decoder.parameters()]))


def test_stage_one_weight_decay_shrinks_the_networks(tmp_path):
    without, with_decay = stage_one_weight_norm(0.0, tmp_path), stage_one_weight_norm(5.0, tmp_path)
    assert with_decay < 0.9 * without, (with_decay, without)
