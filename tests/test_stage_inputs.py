"""What the training stages say about their data: why images count as 8-bit, in the data stage's log and where a
later stage needs binary images."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from helpers import validated_config

from binlatent import stages
from binlatent.datasets import DataError

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
        stages.binarize(config, str(data))
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
        stages.train_pixel_rbm(cfg, str(data), *(str(tmp_path / n) for n in ("m.pt", "c.h5", "s.pt")), threads=1)
    assert str(err.value).endswith(
        f"; 8-bit because {images} holds uint8 arrays of images (N, 28, 28, 1) with values 0..255, and a 4-D uint8 "
        f"array (N, H, W, C) counts as 8-bit images; {GREY_FIX}"
    )


def test_colour_images_are_noted_without_a_warning(tmp_path, caplog):
    images = tmp_path / "colour.npz"
    np.savez(images, x_train=np.zeros((30, 4, 4, 3), np.uint8), x_test=np.zeros((5, 4, 4, 3), np.uint8))
    config = validated_config(dataset="file", data_path=str(images), seed=1, data={"n_valid": 5, "n_test": 5})
    with caplog.at_level(logging.INFO, logger="binlatent"):
        stages.binarize(config, str(tmp_path / "data.h5"))
    (note,) = [r for r in caplog.records if "8-bit" in r.getMessage()]
    assert note.levelno == logging.INFO and "x.mean(axis=-1) / 255.0" in note.getMessage()
