"""Posterior collapse: a small hybrid with the autoregressive decoder, trained briefly on images whose global
structure its PixelCNN cannot see, carries nats in its code; the same model with its decoder cut off from the code
carries almost none, so the measurement can tell the two apart."""

from __future__ import annotations

import pytest
import torch
from helpers import SMALL_NETWORK, built_model

from binlatent.finetune import train_on_bound
from binlatent.image import ImageFormat
from binlatent.models import HybridModel
from binlatent.priors import LogZSettings
from binlatent.rate import code_nats
from binlatent.training import Checkpointer
from binlatent.variants import ModelSpec, finetune_config

SIDE, CLASSES, FLIP = 8, 16, 0.1  # 8x8 binary images: one of 16 random templates, each pixel flipped with p 0.1
SPEC = ModelSpec(
    "hybrid", "rbm", False, False, "vimco", 5, 4, 3e-3, network=SMALL_NETWORK
)  # 4 hidden units: log Z by enumeration
NETWORK = {
    "kind": "mlp",
    "n_latent": 8,
    "hidden": [32],
    "activation": "tanh",
    "decoder": "autoregressive",
    "pixelcnn": {
        "layers": 1,
        "channels": 8,
        "kernel": 3,
        "border": False,
    },  # a pixel reads 2 rows up and 1 column to each side
}
FINETUNE = {
    "epochs": 40,
    "batch_size": 50,
    "prior_lr": 1e-3,
    "weight_decay": 0.0,
    "n_chains": 50,
    "gibbs_steps": 1,
    "valid_K": 5,
    "valid_every": 40,
    "patience": 40,
    "valid_ais": {"runs": 10, "schedule": [[1.0, 10]]},
}
USED, UNUSED = 1.0, 0.1  # nats per image; measured 2.0-2.7 and 0.006-0.03 over ten seeds (at most ln 16 = 2.77)


@pytest.fixture(autouse=True)
def one_thread():
    """Models this small train fastest on one thread, and many times slower on several when other jobs hold the
    cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def template_images(n: int, templates: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """n images (n, SIDE * SIDE), each a random one of `templates` with every pixel flipped with probability FLIP:
    which template is global, so a decoder that sees a few neighbours of each pixel needs the code to know it."""
    chosen = templates[torch.randint(0, len(templates), (n,), generator=generator)]
    return (chosen - (torch.rand(chosen.shape, generator=generator) < FLIP).float()).abs()


def trained_code_nats(code_reaches_decoder: bool, tmp_path) -> float:
    """The code's nats per held-out image of the hybrid after FINETUNE's epochs from random weights (seeded)."""
    data = torch.Generator().manual_seed(0)
    templates = (torch.rand(CLASSES, SIDE * SIDE, generator=data) < 0.5).float()
    x_train, x_valid = template_images(400, templates, data), template_images(100, templates, data)
    torch.manual_seed(1)
    model: HybridModel = built_model(SPEC, ImageFormat((SIDE, SIDE), "binary"), NETWORK)
    if not code_reaches_decoder:
        for layer in model.decoder.pixelcnn.layers:  # the code's maps enter every gated layer through `code`
            torch.nn.init.zeros_(layer.code.weight)
            layer.code.weight.requires_grad_(False)
    with torch.no_grad():
        model.prior.init_from_codes(model.encoder.code_mean(x_train))
    generator = torch.Generator().manual_seed(2)
    checkpointer = Checkpointer(tmp_path / "state.pt", FINETUNE["epochs"] + 1, None)
    train_on_bound(model, x_train, x_valid, finetune_config(FINETUNE, SPEC), generator, checkpointer)  # the best epoch
    log_z = model.log_z(x_train, LogZSettings.per_epoch(FINETUNE["valid_ais"]), generator).value
    return code_nats(model, x_valid, log_z, generator=generator)[0]


def test_a_trained_hybrid_with_an_autoregressive_decoder_uses_its_code(tmp_path):
    assert trained_code_nats(True, tmp_path) > USED


def test_the_code_carries_almost_nothing_when_the_decoder_cannot_read_it(tmp_path):
    assert trained_code_nats(False, tmp_path) < UNUSED
