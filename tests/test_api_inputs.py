"""The public API refuses what it cannot score: `log_likelihood`, `sample`, `reconstruct` and `load_model` check their
inputs before any work, each refusal a ValueError naming the argument (or the file and the entry), what was expected
and what was found; and a long log-likelihood reports its progress in the log."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from helpers import SMALL_NETWORK

from binlatent import load_model, progress
from binlatent.checkpoints import load_checkpoint, save_checkpoint
from binlatent.image import ImageFormat
from binlatent.models import build_model, model_arguments, save_model
from binlatent.priors import LogZSettings
from binlatent.variants import ModelSpec

NETWORK = {**SMALL_NETWORK, "n_latent": 6, "hidden": [16]}
BINARY, EIGHT_BIT = ImageFormat((4, 4), "binary"), ImageFormat((4, 4, 3), "8bit")
HYBRID = ModelSpec("hybrid", "rbm", True, True, "vimco", 3, 5, 1e-3, network=NETWORK)
PIXELS = ModelSpec("rbm_pixels", "pixels", False, False, "", 0, 7, 0.0)
AIS = {"runs": 5, "schedule": [[1.0, 20]]}


def model(spec: ModelSpec = HYBRID, image: ImageFormat = BINARY):
    torch.manual_seed(0)
    return build_model(model_arguments(spec, image)).eval()


def binary_images(n: int = 5) -> torch.Tensor:
    return (torch.rand(n, 16, generator=torch.Generator().manual_seed(1)) < 0.5).float()


def score(m, x, **kwargs):
    return m.log_likelihood(x, **{"K": 4, "ais": AIS, "generator": torch.Generator().manual_seed(2), **kwargs})


def refused(message: str):
    """pytest.raises for a ValueError whose message starts with `message` (literal)."""
    return pytest.raises(ValueError, match="^" + re.escape(message))


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (-torch.ones(5, 16), "x: expected binary pixels, each 0 or 1, as the data stage stores them (this model is of "
         "binary images); found 80 of 80 values that are not 0 or 1, e.g. -1 (image 0, pixel 0), values in [-1, -1]"),
        (torch.full((5, 16), 255.0), "x: expected binary pixels, each 0 or 1, as the data stage stores them (this "
         "model is of binary images); found 80 of 80 values that are not 0 or 1, e.g. 255 (image 0, pixel 0), values "
         "in [255, 255]; grey levels 0..255? binarise x / 255 first, e.g. x / 255 > 0.5"),
        (torch.full((5, 16), 0.5), "x: expected binary pixels, each 0 or 1, as the data stage stores them (this model "
         "is of binary images); found 80 of 80 values that are not 0 or 1, e.g. 0.5 (image 0, pixel 0), values in "
         "[0.5, 0.5]; intensities in [0, 1] are binarised by the data stage before a model sees them"),
        (torch.tensor([[0.0] * 15 + [float("nan")]] * 2), "x: expected finite pixel values; found 2 of 32 values that "
         "are not finite, e.g. nan (image 0, pixel 15)"),
        (torch.zeros(5, 15), "x: expected a batch of images as (N, 16) or (N, 4, 4) or (N, 4, 4, 1): this model's "
         "images are 4 x 4 binary; found shape (5, 15): 15 pixels per image, where the model has 16"),
        (torch.zeros(0, 16), "x: expected at least one image; found an empty batch, shape (0, 16)"),
        (torch.zeros(16), "x: expected a batch of images as (N, 16) or (N, 4, 4) or (N, 4, 4, 1): this model's images "
         "are 4 x 4 binary; found shape (16,); a single image? pass it as a batch of one, x[None]"),
        (torch.zeros(5, 4, 4, 3), "x: expected a batch of images as (N, 16) or (N, 4, 4) or (N, 4, 4, 1)"),
        (np.array([["a"] * 16]), "x: expected images of real numbers; found dtype <U1"),
        (torch.zeros(2, 16, dtype=torch.complex64), "x: expected images of real numbers; found dtype torch.complex64"),
    ],
    ids=["-1", "0..255", "0.5", "NaN", "15 columns", "empty", "one image", "colour", "strings", "complex"],
)  # fmt: skip
def test_images_a_binary_model_cannot_score_are_refused_by_name(images, message):
    with refused(message):
        score(model(), images)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.full((2, 48), 0.5), "x: expected 8-bit pixels, integers 0..255, as the data stage stores them (this "
         "model is of 8-bit images); found 96 of 96 values that are not integers 0..255, e.g. 0.5 (image 0, pixel 0), "
         "values in [0.5, 0.5]; intensities in [0, 1]? pass np.round(x * 255)"),
        (torch.full((2, 48), 256.0), "x: expected 8-bit pixels, integers 0..255"),
        (torch.full((2, 4, 4), 3.0), "x: expected a batch of images as (N, 48) or (N, 4, 4, 3): this model's images "
         "are 4 x 4 x 3 8-bit; found shape (2, 4, 4)"),
    ],
    ids=["0.5", "256", "grey"],
)  # fmt: skip
def test_images_an_8bit_model_cannot_score_are_refused_by_name(images, message):
    with refused(message):
        score(model(HYBRID, EIGHT_BIT), images)


def test_every_accepted_layout_and_type_scores_as_the_flat_float_images():
    m, x = model(), binary_images()
    expected = score(m, x).per_image
    square = x.reshape(5, 4, 4)
    for same in (
        x.numpy(),
        x.double(),
        x.bool(),
        x.to(torch.uint8),
        square,
        square[..., None],
        square.numpy().tolist(),
    ):
        np.testing.assert_array_equal(score(m, same).per_image, expected)
    colour = torch.randint(0, 256, (3, 4, 4, 3), generator=torch.Generator().manual_seed(0))
    eight_bit = model(HYBRID, EIGHT_BIT)
    expected = score(eight_bit, colour.reshape(3, 48).float()).per_image  # as the data stage's splits load
    np.testing.assert_array_equal(score(eight_bit, colour.to(torch.uint8).numpy()).per_image, expected)
    assert np.isfinite(expected).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"K": 0}, "K: expected importance samples per image, an integer of at least 1; found 0"),
        ({"K": 2.5}, "K: expected importance samples per image, an integer of at least 1; found 2.5 (float)"),
        ({"K": True}, "K: expected importance samples per image, an integer of at least 1; found True (bool)"),
        ({"x_base": torch.zeros(3, 15)}, "x_base: expected a batch of images as (N, 16)"),
        ({"ais": {"schedule": [[1.0, 10]]}}, "ais: expected the key 'runs' (the number of AIS runs); found keys "
         "schedule"),
        ({"ais": {"runs": 0, "schedule": [[1.0, 10]]}}, "ais['runs']: expected the number of AIS runs, an integer of "
         "at least 1; found 0"),
        ({"ais": {"runs": 5, "schedule": [[0.5, 10]]}}, "ais['schedule']: expected an AIS schedule [[beta, steps], "
         "...] with betas rising to 1; found [[0.5, 10]] (AIS schedule must end at beta = 1, ends at 0.5)"),
        ({"conservative": {"K": 2, "schedule": [[1.0, 5]]}}, "conservative: expected the key 'chains' (reverse chains "
         "per image); found keys K, schedule"),
        ({"exact_up_to": -1}, "exact_up_to: expected the most units of an RBM layer whose log Z is enumerated, an "
         "integer of at least 0; found -1"),
    ],
    ids=["K=0", "K=2.5", "K=True", "x_base", "ais without runs", "ais runs 0", "ais schedule", "raise", "exact_up_to"],
)  # fmt: skip
def test_settings_a_model_cannot_score_with_are_refused_by_name(kwargs, message):
    with refused(message):
        score(model(), binary_images(), **kwargs)


def test_an_rbm_on_the_pixels_takes_k_0_as_the_evaluation_passes_it():
    m = model(PIXELS)
    assert np.isfinite(score(m, binary_images(), K=0).per_image).all()
    with refused(
        "K: expected importance samples per image (not used by an RBM on the pixels), an integer of at least 0"
    ):
        score(m, binary_images(), K=-1)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((-1,), {}, "n: expected the number of samples, an integer of at least 1; found -1"),
        ((0,), {}, "n: expected the number of samples, an integer of at least 1; found 0"),
        ((2.0,), {}, "n: expected the number of samples, an integer of at least 1; found 2.0 (float)"),
        ((2, -1), {}, "gibbs_steps: expected Gibbs sweeps, an integer of at least 0; found -1"),
        ((2, 1), {"ais": {"runs_per_sample": 2, "schedule": [[1.0, 5]]}}, "x_base: expected the images whose codes "
         "AIS's base model is fitted to, which chain starts from AIS runs (ais=...) need; found None"),
        ((2, 1), {"x_base": torch.full((3, 16), 0.5), "ais": {"runs_per_sample": 2, "schedule": [[1.0, 5]]}},
         "x_base: expected binary pixels, each 0 or 1"),
        ((2, 1), {"x_base": binary_images(), "ais": {"runs": 2, "schedule": [[1.0, 5]]}}, "ais: expected the key "
         "'runs_per_sample' (AIS runs per sampling chain); found keys runs, schedule"),
    ],
    ids=["n=-1", "n=0", "n=2.0", "gibbs_steps=-1", "ais without x_base", "x_base", "ais keys"],
)  # fmt: skip
def test_sample_refuses_what_it_cannot_draw_by_name(args, kwargs, message):
    for spec in (HYBRID, PIXELS):
        with refused(message):
            model(spec).sample(*args, generator=torch.Generator().manual_seed(0), **kwargs)


def test_sample_takes_x_base_in_any_accepted_layout():
    ais = {"runs_per_sample": 2, "schedule": [[1.0, 5]]}
    drawn = model().sample(3, 2, torch.Generator().manual_seed(0), binary_images().reshape(5, 4, 4).numpy(), ais)
    assert drawn.shape == (3, 16)


def test_reconstruct_refuses_images_it_cannot_encode():
    with refused("x: expected binary pixels, each 0 or 1"):
        model().reconstruct(torch.full((2, 16), 0.5))
    assert model().reconstruct(binary_images().reshape(5, 4, 4)).shape == (5, 16)


def checkpoint_without(tmp_path, drop=(), drop_args=(), drop_spec=()):
    """A model checkpoint with entries, model_args entries and spec fields left out; its path."""
    m = model()
    path = tmp_path / "full.pt"
    save_model(path, m, m.state_dict(), 1.0, {"seed": 1})
    saved = {k: v for k, v in load_checkpoint(path).items() if k not in (*drop, "provenance")}
    if "model_args" in saved:
        args = {k: v for k, v in saved["model_args"].items() if k not in drop_args}
        if "spec" in args:
            args["spec"] = {k: v for k, v in args["spec"].items() if k not in drop_spec}
        saved["model_args"] = args
    damaged = tmp_path / "model.pt"
    save_checkpoint(damaged, saved, None)
    return damaged


@pytest.mark.parametrize("entry", ["model_args", "model", "train_seconds"])
def test_a_checkpoint_without_an_entry_names_the_file_and_the_entry(tmp_path, entry):
    path = checkpoint_without(tmp_path, drop=(entry,))
    with refused(f"{path}: not a model checkpoint: it lacks '{entry}' (it holds: "):
        load_model(path)


def test_a_checkpoint_whose_model_args_lack_an_entry_names_it(tmp_path):
    path = checkpoint_without(tmp_path, drop_args=("image",))
    with refused(f"{path}: model_args lacks 'image' (it holds: format, spec); the checkpoint is damaged"):
        load_model(path)
    path = checkpoint_without(tmp_path, drop_spec=("K", "lr"))
    with refused(f"{path}: model_args['spec'] lacks 'K', 'lr' (it holds: name, prior, stage1, stage2, estimator, "):
        load_model(path)


def test_a_stage_checkpoint_or_weights_of_another_model_are_refused_with_the_file(tmp_path):
    stage_one = tmp_path / "autoencoder.pt"
    save_checkpoint(stage_one, {"encoder": {}, "decoder": {}, "image": BINARY.as_dict(), "train_seconds": 1.0}, None)
    with refused(f"{stage_one}: not a model checkpoint: it lacks 'model', 'model_args' (it holds: encoder, decoder, "):
        load_model(stage_one)
    path = checkpoint_without(tmp_path)
    saved = load_checkpoint(path)
    saved["model"] = {k: v[..., :1] if v.dim() else v for k, v in saved["model"].items()}  # other sizes
    save_checkpoint(path, {k: v for k, v in saved.items() if k != "provenance"}, None)
    with refused(f"{path}: the weights do not fit the model its model_args describe (Error(s) in loading state_dict"):
        load_model(path)


def test_a_long_log_likelihood_reports_its_progress_and_time_left(monkeypatch, caplog):
    monkeypatch.setattr(progress, "REPORT_EVERY_S", 0.0)
    m = model()
    with caplog.at_level("INFO", logger="binlatent"):
        m.log_z(binary_images(), LogZSettings.per_epoch(AIS))
        m.unnormalised_log_likelihood(binary_images(), 4)
        assert caplog.text == ""  # training's validation calls: silent
        score(m, binary_images(20), ais={"runs": 5, "schedule": [[0.5, 10], [1.0, 20]]})
    lines = caplog.text
    assert "log-likelihood of 20 images: importance sampling at K = 4, then log Z by AIS (5 runs of 30 steps) " \
           "checked by a run of 15 steps" in lines  # fmt: skip
    assert re.search(r"importance sampling at K = 4: \d+ of 80 codes \(\d+%\), \d+ s elapsed, about \d+ s left", lines)
    assert re.search(r"AIS \(5 runs\): 30 of 30 steps \(100%\), beta 1\.000, \d+ s elapsed, about 0 s left", lines)
    assert re.search(r"AIS \(5 runs\): 15 of 15 steps \(100%\)", lines)  # the check at half the temperatures
