"""Reference rows (lossless codecs, histogram entropy), clustered standard errors, and the test crops' blocks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from binlatent.codecs import (
    CODECS,
    REFERENCE_SOURCE,
    data_reference_rows,
    file_bits_per_dim,
    histogram_entropy_bits_per_dim,
    reference_rows,
)
from binlatent.datasets import prepared_splits, split_blocks
from binlatent.datasets.patches import BLOCK_SIDE, block_ids, patch_boxes, patches_dataset, photo_blocks
from binlatent.evaluate import likelihood_metrics
from binlatent.io import write_h5
from binlatent.models import LogLikelihood
from binlatent.priors import LogZ
from binlatent.results import write_results
from binlatent.stats import clustered_se

RNG = np.random.default_rng(0)
NOISE = RNG.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)


@pytest.mark.parametrize("codec", list(CODECS))
def test_a_constant_image_costs_little_and_noise_about_eight_bits(codec):
    image_format, options = CODECS[codec]
    constant = np.full((2, 32, 32, 3), 77, dtype=np.uint8)
    assert (file_bits_per_dim(constant, image_format, options) < 0.3).all()  # headers only
    noise = file_bits_per_dim(NOISE, image_format, options)
    assert ((noise > 7.9) & (noise < 8.5)).all()  # incompressible, plus headers


def test_a_grey_image_is_coded_as_one_channel():
    image_format, options = CODECS["PNG (optimised), per image"]
    grey = RNG.integers(0, 256, (1, 32, 32, 1), dtype=np.uint8)
    assert 7.9 < file_bits_per_dim(grey, image_format, options)[0] < 9  # one byte per value, not three


def test_histogram_entropy_of_uniform_bytes_is_eight_bits_and_of_two_values_one():
    uniform = RNG.integers(0, 256, (200, 32, 32, 3), dtype=np.uint8)
    assert histogram_entropy_bits_per_dim(uniform) == pytest.approx(8.0, abs=0.01)
    two_values = np.repeat(np.array([[[[0, 5, 9]]], [[[255, 6, 9]]]], dtype=np.uint8), 8, axis=0)
    assert histogram_entropy_bits_per_dim(two_values) == pytest.approx((1 + 1 + 0) / 3)


def test_reference_rows_are_marked_and_clustered():
    images = NOISE.copy()
    images[0] = images[2, :, :1]  # one image of constant columns, one block of noise
    blocks = np.array([0, 0, 1, 1])
    rows = reference_rows(images, blocks)
    assert list(rows["model"]) == [*CODECS, "per-channel histogram entropy"]
    assert (rows["source"] == REFERENCE_SOURCE).all() and (rows["n_test"] == 4).all()
    for i, (image_format, options) in enumerate(CODECS.values()):
        bits = file_bits_per_dim(images, image_format, options)
        assert rows["test_bpd"][i] == pytest.approx(bits.mean()) and rows["test_bpd"][i] < 7
        assert rows["test_bpd_se"][i] == pytest.approx(clustered_se(bits, blocks))
    assert rows["test_bpd"][2] == pytest.approx(histogram_entropy_bits_per_dim(images))


def test_clustered_se_is_the_usual_one_for_one_value_per_cluster_and_ignores_duplicates():
    y = RNG.normal(size=50)
    usual = y.std(ddof=1) / np.sqrt(len(y))
    assert clustered_se(y, np.arange(50)) == pytest.approx(usual)
    # every value three times, the copies in one cluster: no more information than the 50 values
    assert clustered_se(np.repeat(y, 3), np.repeat(np.arange(50), 3)) == pytest.approx(usual)


def test_clustered_se_grows_with_correlation_within_blocks():
    blocks = np.repeat(np.arange(20), 25)
    y = RNG.normal(size=20)[blocks] + 0.1 * RNG.normal(size=500)  # values share their block's level
    assert clustered_se(y, blocks) > 3 * y.std(ddof=1) / np.sqrt(500)
    with pytest.raises(ValueError, match="2 clusters"):
        clustered_se(y, np.zeros(500))


def test_clustered_errors_are_the_metrics_and_their_intervals_and_the_iid_ones_are_kept():
    y, blocks = RNG.normal(size=40), np.repeat(np.arange(8), 5)
    metrics, _ = likelihood_metrics(LogLikelihood(y, LogZ.normalised()), 10, blocks)
    assert metrics["test_ll_se_iid"] == y.std(ddof=1) / np.sqrt(40) and metrics["se_clusters"] == 8
    assert metrics["test_ll_se"] == clustered_se(y, blocks)
    assert metrics["test_ll_high"] - metrics["test_ll"] == pytest.approx(3 * clustered_se(y, blocks))


def test_each_crop_lies_in_the_block_its_id_names():
    photos_shape, side = (2, 427, 640), BLOCK_SIDE * 32
    boxes = patch_boxes(photos_shape, 32, {"train": 300, "valid": 50, "test": 200}, seed=5)
    corners = photo_blocks(photos_shape, side)
    ids = {split: block_ids(photos_shape, b, side) for split, b in boxes.items()}
    for split, b in boxes.items():
        corner = corners[ids[split]]
        assert (b[:, 0] == corner[:, 0]).all()
        assert ((b[:, 1:] >= corner[:, 1:]) & (b[:, 1:] + 32 <= corner[:, 1:] + side)).all()
    assert not set(ids["test"]) & (set(ids["train"]) | set(ids["valid"]))


def test_the_data_file_records_the_test_crops_blocks_and_the_table_shows_the_references(tmp_path):
    raw = patches_dataset(32, n_train=20, n_valid=10, n_test=30, seed=2)
    write_h5(tmp_path / "data.h5", prepared_splits(raw, 2), {"seed": 2}, {"image_shape": [32, 32, 3]})
    blocks = split_blocks(tmp_path / "data.h5", "test")
    np.testing.assert_array_equal(blocks, raw.blocks["test"])
    references = data_reference_rows(tmp_path / "data.h5")
    metrics = pd.DataFrame([{"model": "hybrid", "prior": "rbm", "pretraining": "stages 1+2", "test_ll": -9000.0,
                             "test_ll_se": 100.0, "test_bpd": 4.2, "test_bpd_se": 0.07, "test_bpd_low": 4.0,
                             "test_bpd_high": 4.4, "K": 10, "n_test": 30,
                             "se_clusters": len(np.unique(blocks))}])  # fmt: skip
    write_results(
        metrics, tmp_path / "results.csv", tmp_path / "results.md", tmp_path / "results.png", "8bit", references
    )
    table = (tmp_path / "results.md").read_text()
    assert table.count(REFERENCE_SOURCE) == 3 + 1  # three rows and the note
    assert f"clustered by the {len(np.unique(blocks))} blocks" in table
    assert pd.read_csv(tmp_path / "results.csv")["source"].tolist()[:4] == ["this workflow", *[REFERENCE_SOURCE] * 3]
