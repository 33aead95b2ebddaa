"""What the training stages say about their data: why images count as 8-bit (in the data stage's log, and where a
later stage needs binary images), and a batch larger than the training set, named by its config key."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from helpers import validated_config

from binlatent import inputs, stages
from binlatent.datasets import DataError
from binlatent.io import write_h5
from binlatent.pretrain import fit_rbm
from binlatent.rbm import RBM
from binlatent.training import Checkpointer

GREY_FIX = (
    "to give binary images instead, store each x_ array as floats in [0, 1] shaped (N, H, W) or (N, D), e.g. "
    "x[..., 0] / 255.0 (intensities, which the data stage binarises), or as 0/1, e.g. (x[..., 0] > 127).astype("
    "np.float32)"
)


@pytest.fixture
def grey_uint8_data(tmp_path, caplog):
    """28x28x1 uint8 grey levels 0..255 in a user's file through the data stage: the file, the stored file, the log."""
    rng = np.random.default_rng(0)
    images = tmp_path / "grey.npz"
    np.savez(images, x_train=rng.integers(0, 256, (60, 28, 28, 1), dtype=np.uint8),
             x_test=rng.integers(0, 256, (10, 28, 28, 1), dtype=np.uint8))  # fmt: skip
    data = tmp_path / "data.h5"
    config = validated_config(dataset="file", data_path=str(images), seed=1, data={"n_valid": 10, "n_test": 10})
    with caplog.at_level(logging.INFO, logger="binlatent"):
        stages.binarize(config, data=str(data), threads=1)
    return images, data, caplog.records


def test_the_data_stage_says_why_grey_uint8_images_are_stored_as_8bit(grey_uint8_data):
    images, _, records = grey_uint8_data
    (note,) = [r for r in records if "8-bit" in r.getMessage()]
    assert note.levelno == logging.WARNING
    assert note.getMessage() == (
        f"{images}: the images are stored as 8-bit, modelled by a discretised logistic likelihood (an RBM on the "
        f"pixels and an RBM stack, stage1.init: rbm_stack, need binary images): {images} holds uint8 arrays of images "
        f"(N, 28, 28, 1) with values 0..255, and a 4-D uint8 array (N, H, W, C) counts as 8-bit images; {GREY_FIX}"
    )


def test_an_rbm_stack_on_8bit_pixels_says_why_they_count_as_8bit_and_how_to_give_binary_images(grey_uint8_data):
    images, data, _ = grey_uint8_data
    with pytest.raises(DataError) as err:
        stages.layer_data(str(data), torch.device("cpu"))
    assert str(err.value) == (
        f"{data}: an RBM stack on the pixels needs binary images, but these count as 8-bit: {images} holds uint8 "
        f"arrays of images (N, 28, 28, 1) with values 0..255, and a 4-D uint8 array (N, H, W, C) counts as 8-bit "
        f"images; {GREY_FIX}; or use stage1.init: random"
    )


def test_an_rbm_on_8bit_pixels_says_why_they_count_as_8bit(grey_uint8_data, tmp_path):
    images, data, _ = grey_uint8_data
    cfg = {"device": "cpu", "seed": 1, "spec": {"name": "rbm_pixels", "prior": "pixels", "stage1": False,
           "stage2": False, "estimator": "", "K": 0, "rbm_hidden": 7, "lr": 0.0}}  # fmt: skip
    with pytest.raises(DataError, match="needs binary images; the data are 8bit: leave it out with") as err:
        files = {
            "checkpoint": str(tmp_path / "m.pt"),
            "curves": str(tmp_path / "c.h5"),
            "state": str(tmp_path / "s.pt"),
        }
        stages.train_pixel_rbm(cfg, data=str(data), **files, threads=1)
    assert str(err.value).endswith(
        f"; 8-bit because {images} holds uint8 arrays of images (N, 28, 28, 1) with values 0..255, and a 4-D uint8 "
        f"array (N, H, W, C) counts as 8-bit images; {GREY_FIX}"
    )


def test_colour_images_are_noted_without_a_warning(tmp_path, caplog):
    images = tmp_path / "colour.npz"
    np.savez(images, x_train=np.zeros((30, 4, 4, 3), np.uint8), x_test=np.zeros((5, 4, 4, 3), np.uint8))
    config = validated_config(dataset="file", data_path=str(images), seed=1, data={"n_valid": 5, "n_test": 5})
    with caplog.at_level(logging.INFO, logger="binlatent"):
        stages.binarize(config, data=str(tmp_path / "data.h5"), threads=1)
    (note,) = [r for r in caplog.records if "8-bit" in r.getMessage()]
    assert note.levelno == logging.INFO and "x.mean(axis=-1) / 255.0" in note.getMessage()


def test_a_batch_size_larger_than_the_training_set_is_a_warning_naming_the_key(caplog):
    with caplog.at_level(logging.WARNING, logger="binlatent"):
        inputs.batch_size("finetune.batch_size", 50, 50)
        assert caplog.text == ""
        inputs.batch_size("finetune.batch_size", 64, 50)
        inputs.batch_size("prior.batch_size", 100, 30, whole_batches=True)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "finetune.batch_size = 64 is larger than the training set (50 images): every step uses the whole set, one "
        "step per epoch; set finetune.batch_size to at most 50",
        "prior.batch_size = 100 is larger than the training set (30 images): an RBM trains on whole batches only, so "
        "it takes no step at all and stays at its initial weights; set prior.batch_size to at most 30",
    ]


def test_an_rbm_with_a_batch_larger_than_its_data_takes_no_step(generator, tmp_path):
    """What the warning says of RBM fits: fit_rbm skips a partial batch, so a batch larger than the data is none."""
    data = (torch.rand(30, 6, generator=generator) < 0.5).float()
    rbm = RBM(6, 4)
    weights = rbm.W.detach().clone()
    cfg = {"schedule": [{"method": "cd", "k": 1, "epochs": 2}], "batch_size": 50, "lr": 0.1, "lr_decay": 0.0,
           "initial_momentum": 0.5, "momentum": 0.9, "momentum_warmup_epochs": 1, "weight_decay": 0.0}  # fmt: skip
    fit_rbm(rbm, data, data, cfg, generator, Checkpointer(tmp_path / "state.pt", 100, None))
    assert torch.equal(rbm.W, weights)


class Checked(Exception):
    """Stops a stage once it has checked its batch size."""


@pytest.fixture
def batch_checks(monkeypatch):
    """The (key, batch size, training set size, whole batches) each stage checks, the stage stopped there."""
    seen = []

    def check(key, size, n_train, whole_batches=False):
        seen.append((key, size, n_train, whole_batches))
        raise Checked

    monkeypatch.setattr(inputs, "batch_size", check)
    return seen


def test_every_training_stage_checks_its_batch_size_against_its_training_set(tmp_path, batch_checks):
    rng = np.random.default_rng(0)
    images = tmp_path / "images.npz"
    np.savez(images, x_train=rng.random((40, 16)), x_test=rng.random((10, 16)))
    data = tmp_path / "data.h5"
    stages.binarize(validated_config(dataset="file", data_path=str(images), seed=1,
                                     data={"n_valid": 10, "n_test": 10}), data=str(data), threads=1)  # fmt: skip
    codes = tmp_path / "codes.h5"
    write_h5(codes, {f"z_{s}": np.zeros((n, 5), np.uint8) for s, n in (("train", 25), ("valid", 5), ("test", 5))})
    config = validated_config(seed=1, device="cpu", network={"hidden": [8], "n_latent": 5})
    rbm = {"rbm": {**config["prior"], "batch_size": 77}, "n_hidden": 3}
    spec = {"name": "m", "prior": "rbm", "stage1": False, "stage2": False, "estimator": "vimco", "K": 2,
            "rbm_hidden": 3, "lr": 0.001, "network": config["network"]}  # fmt: skip
    pixels = {**spec, "name": "rbm_pixels", "prior": "pixels", "estimator": "", "K": 0, "lr": 0.0, "network": None}
    out = {name: str(tmp_path / name) for name in ("checkpoint", "curves", "codes", "state")}
    stage_one = {k: out[k] for k in ("checkpoint", "codes", "state")}
    trained = {k: out[k] for k in ("checkpoint", "curves", "state")}
    runs = [
        lambda: stages.pretrain_autoencoder(config, data=str(data), **stage_one, threads=1),
        lambda: stages.pretrain_prior({**config, **rbm}, data=str(codes), **out, threads=1),
        lambda: stages.pretrain_encoder_rbm({**config, **rbm}, data=str(data), **out, threads=1),
        lambda: stages.train_pixel_rbm({**config, "spec": pixels}, data=str(data), **trained, threads=1),
        lambda: stages.finetune({**config, "spec": spec}, data=str(data), **trained, threads=1),
    ]
    for run in runs:
        with pytest.raises(Checked):
            run()
    assert batch_checks == [
        ("stage1.batch_size", config["stage1"]["batch_size"], 30, False),
        ("prior.batch_size", 77, 25, True),
        ("stage1.rbm_stack.batch_size", 77, 30, True),
        ("pixel_rbm.batch_size", config["pixel_rbm"]["batch_size"], 30, True),
        ("finetune.batch_size", config["finetune"]["batch_size"], 30, False),
    ]
