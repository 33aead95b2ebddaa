"""Reference rows (lossless codecs, histogram entropy), clustered standard errors, and the test crops' blocks."""

from __future__ import annotations

import dataclasses
import io
import itertools
import re

import imagecodecs
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from binlatent import plots
from binlatent.codecs import (
    CODECS,
    REFERENCE_SOURCE,
    Codec,
    CodecError,
    best_codec,
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


def tables(folder) -> list:
    """Where write_results writes the results table's csv, markdown and figure."""
    return [folder / f"results.{suffix}" for suffix in ("csv", "md", "png")]


NOISE = RNG.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)


def smooth_images(n: int, channels: int, seed: int = 0) -> np.ndarray:
    """uint8 (n, 24, 32, channels): a random slope plus a slow wave in each channel, no noise."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:24, :32][..., None]  # (24, 32, 1) each
    slope = rng.uniform(-3, 3, (2, n, 1, 1, channels))
    wave = rng.uniform(0.1, 0.3, (n, 1, 1, channels))
    values = 128 + slope[0] * rows + slope[1] * cols + 40 * np.sin(wave * (rows + cols))  # (n, 24, 32, channels)
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def random_images(n: int, channels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 24, 32, channels), dtype=np.uint8)


# each codec's file written straight with its library and the settings the results note states
INDEPENDENT_ENCODERS = {
    "PNG (optimised), per image": lambda image: pillow_bytes(image, "PNG", optimize=True),
    "WebP lossless, per image": lambda image: pillow_bytes(image, "WEBP", lossless=True, quality=100, method=6),
    "JPEG 2000 lossless, per image": lambda image: imagecodecs.jpeg2k_encode(
        image, level=0, reversible=True, codecformat="j2k"
    ),
    "JPEG XL lossless, per image": lambda image: imagecodecs.jpegxl_encode(image, lossless=True, effort=9),
}


def pillow_bytes(image: np.ndarray, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, image_format, **options)
    return buffer.getvalue()


def test_the_registry_holds_the_best_lossless_codecs():
    assert set(CODECS) == set(INDEPENDENT_ENCODERS)
    assert "effort 9" in CODECS["JPEG XL lossless, per image"].settings


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("make", [random_images, smooth_images])
@pytest.mark.parametrize("codec", list(CODECS))
def test_each_codec_round_trips_bit_for_bit(codec, make, channels):
    images = make(3, channels)
    for image in images:
        decoded = np.asarray(CODECS[codec].decode(CODECS[codec].encode(image[..., 0] if channels == 1 else image)))
        decoded = decoded.reshape(*image.shape[:2], -1)  # grey comes back (H, W), or as 3 equal channels (WebP)
        assert decoded.dtype == np.uint8 and decoded.shape[-1] in {channels, 3 if channels == 1 else channels}
        np.testing.assert_array_equal(decoded, np.broadcast_to(image, decoded.shape))
    assert np.isfinite(file_bits_per_dim(images, codec)).all()  # the check in the rows passes too


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("codec", list(CODECS))
def test_bits_per_dim_are_eight_times_the_bytes_of_an_independent_encode(codec, channels):
    images = smooth_images(3, channels, seed=4)
    planes = images[..., 0] if channels == 1 else images
    sizes = np.array([len(INDEPENDENT_ENCODERS[codec](plane)) for plane in planes])  # (n,) bytes
    np.testing.assert_allclose(file_bits_per_dim(images, codec), 8 * sizes / (24 * 32 * channels), rtol=1e-12)


@pytest.mark.parametrize("codec", list(CODECS))
def test_a_constant_image_costs_a_header_and_noise_at_least_eight_bits(codec):
    constant = np.full((2, 32, 32, 3), 77, dtype=np.uint8)
    assert (file_bits_per_dim(constant, codec) < 8 * 200 / 3072).all()  # a header of under 200 bytes
    noise = file_bits_per_dim(NOISE, codec)
    assert ((noise > 7.9) & (noise < 10)).all()  # incompressible, plus headers (JPEG XL and 2000 spend more)


@pytest.mark.parametrize("codec", list(CODECS))
def test_a_grey_image_is_coded_as_one_channel(codec):
    grey = RNG.integers(0, 256, (1, 32, 32, 1), dtype=np.uint8)
    assert 7.9 < file_bits_per_dim(grey, codec)[0] < 12  # about one byte per value, not three


def corrupted(codec: str, bad_call: int, change) -> Codec:
    """CODECS[codec] whose decoder applies change to what it decodes on its bad_call-th call (from 0)."""
    calls = itertools.count()
    decode = CODECS[codec].decode

    def wrong(data: bytes) -> np.ndarray:
        decoded = np.array(decode(data))
        return change(decoded) if next(calls) == bad_call else decoded

    return dataclasses.replace(CODECS[codec], decode=wrong)


def flip_one_bit(decoded: np.ndarray) -> np.ndarray:
    decoded.flat[17] ^= 1
    return decoded


@pytest.mark.parametrize("codec", list(CODECS))
def test_a_decoder_that_changes_one_bit_stops_the_rows_naming_the_codec_and_image(codec, monkeypatch):
    monkeypatch.setitem(CODECS, codec, corrupted(codec, 2, flip_one_bit))
    with pytest.raises(CodecError, match=re.escape(codec) + r".*test images \[2\] \(1 of 4\)"):
        reference_rows(NOISE)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.swapaxes(0, 1),  # transposed
        lambda d: d[..., :1],  # one channel of three
        lambda d: d[:-1],  # a row short
        lambda d: d.astype(np.uint16),  # same values, another type
        lambda d: np.concatenate([d, np.full_like(d[..., :1], 255)], -1),  # an opaque alpha channel added
    ],
    ids=["transposed", "one-channel", "row-short", "uint16", "alpha-added"],
)
def test_a_decoder_that_changes_the_shape_or_type_stops_the_rows(change, monkeypatch):
    codec = "JPEG XL lossless, per image"
    monkeypatch.setitem(CODECS, codec, corrupted(codec, 0, change))
    with pytest.raises(CodecError, match=r"test images \[0\]"):
        file_bits_per_dim(smooth_images(2, 3), codec)


def test_jpeg_xl_beats_png_on_smooth_images():
    images = smooth_images(8, 3, seed=3)
    jpeg_xl, png = (file_bits_per_dim(images, c) for c in ["JPEG XL lossless, per image", "PNG (optimised), per image"])
    assert (jpeg_xl < png).all() and jpeg_xl.mean() < 0.85 * png.mean()


def test_the_best_codec_is_the_lowest_codec_row_not_the_entropy():
    table = pd.DataFrame(
        {
            "model": ["hybrid", *CODECS, "per-channel histogram entropy", "PixelCNN++"],
            "test_bpd": [1.0, 3.9, 3.3, 3.8, 3.0, 0.5, 2.92],
            "source": ["this workflow", *[REFERENCE_SOURCE] * 5, "published (other data)"],
        }
    )
    assert best_codec(table)["model"] == "JPEG XL lossless, per image" and best_codec(table)["test_bpd"] == 3.0
    assert best_codec(table[~table["model"].str.startswith("JPEG XL")])["model"] == "WebP lossless, per image"
    assert best_codec(table[table["source"] != REFERENCE_SOURCE]) is None


def test_the_bits_per_dim_figure_draws_the_best_codec_as_a_labelled_line(tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(plots, "save", lambda fig, path: figures.append(fig))
    images = smooth_images(6, 3, seed=5)
    references = reference_rows(images)
    metrics = pd.DataFrame([{"model": "hybrid", "prior": "rbm", "pretraining": "stages 1+2", "test_ll": -4000.0,
                             "test_ll_se": 10.0, "test_bpd": 2.5, "test_bpd_se": 0.07, "test_bpd_low": 2.3,
                             "test_bpd_high": 2.7, "K": 10, "n_test": 6}])  # fmt: skip
    write_results(metrics, *tables(tmp_path), "8bit", references)
    best = references.loc[references["test_bpd"][: len(CODECS)].idxmin()]
    ax = figures[0].axes[0]
    lines = [line for line in ax.get_lines() if line.get_label().startswith("best lossless codec")]
    assert (
        len(lines) == 1
        and best["model"] in lines[0].get_label()
        and f"({best['test_bpd']:.3f})" in lines[0].get_label()
    )
    np.testing.assert_allclose(lines[0].get_xdata(), best["test_bpd"])
    assert lines[0].get_label() in [t.get_text() for t in figures[0].legends[0].get_texts()]  # the legend below
    assert "bits per dimension" in ax.get_xlabel()
    write_results(metrics, *tables(tmp_path), "8bit")  # no reference rows: no codec line
    assert not [line for line in figures[1].axes[0].get_lines() if "codec" in line.get_label()]


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
    for i, codec in enumerate(CODECS):
        bits = file_bits_per_dim(images, codec)
        assert rows["test_bpd"][i] == pytest.approx(bits.mean()) and bits[0] < 3 < 7.9 < bits[1:].min()
        assert rows["test_bpd_se"][i] == pytest.approx(clustered_se(bits, blocks))
    assert rows["test_bpd"][len(CODECS)] == pytest.approx(histogram_entropy_bits_per_dim(images))


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
    assert table.count(REFERENCE_SOURCE) == len(CODECS) + 1 + 1  # the codecs' rows, the entropy's and the note
    assert f"clustered by the {len(np.unique(blocks))} blocks" in table
    note = table.split("\n\n")[-1]
    assert all(codec.settings in note for codec in CODECS.values())
    assert "effort 9" in note and "bit for bit" in note and "headers included" in note
    assert pd.read_csv(tmp_path / "results.csv")["source"].tolist()[: 2 + len(CODECS)] == [
        "this workflow",
        *[REFERENCE_SOURCE] * (1 + len(CODECS)),
    ]
