"""Reference rows for 8-bit results tables: what the best lossless image codecs and a histogram entropy achieve on
the same test images, in bits per dimension, so that a reader sees whether a model beats a file format.

- Lossless codecs (CODECS), each test image compressed on its own as a file with the headers it needs to be
  decoded, then decoded back and compared with the image bit for bit (a mismatch stops with the codec and the
  image); bits/dim = 8 * file bytes / (H W C):
  JPEG XL (libjxl through imagecodecs: lossless, effort 9; a bare codestream, the usual .jxl file),
  JPEG 2000 (OpenJPEG through imagecodecs: the reversible wavelet and colour transform; a .j2k codestream, whose
  main header holds all a decoder needs; the JP2 wrapper would add about 85 bytes an image),
  PNG (Pillow, optimize=True) and WebP lossless (Pillow, lossless=True, quality=100, method=6).
  A grey image (C = 1) is coded as one channel where the format has one (WebP stores it as three equal ones).
- The empirical per-channel histogram entropy: the entropy of each colour channel's 256-value histogram over all
  test images, averaged over channels; what an ideal coder of independent values achieves with the test set's
  own value frequencies (known to the coder, so an optimistic figure for a coder of that kind).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import imagecodecs
import numpy as np
import pandas as pd
import PIL
from PIL import Image

from binlatent.datasets import image_shape, split_blocks
from binlatent.hdf5 import open_h5
from binlatent.stats import mean_and_se

REFERENCE_SOURCE = "reference: not a model"


class CodecError(RuntimeError):
    """A codec's file did not decode to its image bit for bit."""


@dataclass(frozen=True)
class Codec:
    """A lossless image format: `encode` writes one uint8 image, (H, W) grey or (H, W, 3) colour, as the bytes of
    its file; `decode` reads them back as an array; `settings` says how, in words for the results note."""

    settings: str
    encode: Callable[[np.ndarray], bytes]
    decode: Callable[[bytes], np.ndarray]


def pillow_codec(settings: str, image_format: str, **options) -> Codec:
    """A Codec that saves with Pillow's `image_format` writer and `options`, and reads with Pillow."""

    def encode(image: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, image_format, **options)
        return buffer.getvalue()

    return Codec(settings, encode, lambda data: np.asarray(Image.open(io.BytesIO(data))))


CODECS = {
    "PNG (optimised), per image": pillow_codec("PNG (Pillow, optimize=True)", "PNG", optimize=True),
    "WebP lossless, per image": pillow_codec(
        "WebP lossless (Pillow, quality=100, method=6)", "WEBP", lossless=True, quality=100, method=6
    ),
    "JPEG 2000 lossless, per image": Codec(
        "JPEG 2000 lossless (OpenJPEG: reversible wavelet and colour transform, .j2k codestream)",
        partial(imagecodecs.jpeg2k_encode, level=0, reversible=True, codecformat="j2k"),
        imagecodecs.jpeg2k_decode,
    ),
    "JPEG XL lossless, per image": Codec(
        "JPEG XL lossless (libjxl, effort 9)",
        partial(imagecodecs.jpegxl_encode, lossless=True, effort=9),
        imagecodecs.jpegxl_decode,
    ),
}


def codec_libraries() -> str:
    """The codec libraries and their versions, in words: 'imagecodecs 2026.3.6 (libjxl 0.11.2, openjpeg 2.5.4) and
    Pillow 13.0.0'."""
    bundled = f"{imagecodecs.jpegxl_version()}, {imagecodecs.jpeg2k_version()}"
    return f"imagecodecs {imagecodecs.__version__} ({bundled}) and Pillow {PIL.__version__}"


def same_pixels(image: np.ndarray, decoded: np.ndarray) -> bool:
    """Whether `decoded` holds the uint8 image (H, W, C) bit for bit: same height, width, type and values; a grey
    image (C = 1) may come back as (H, W), or as three equal channels from a format without grey."""
    decoded = np.asarray(decoded)
    decoded = decoded[..., None] if decoded.ndim == 2 else decoded  # (H, W, C')
    channels = {image.shape[-1], 3} if image.shape[-1] == 1 else {image.shape[-1]}
    return (
        decoded.ndim == 3
        and decoded.dtype == np.uint8
        and decoded.shape[:2] == image.shape[:2]
        and decoded.shape[2] in channels
        and bool((decoded == image).all())
    )


def file_bits_per_dim(images: np.ndarray, codec: str) -> np.ndarray:
    """8 * bytes / (H W C) of each uint8 image of images (n, H, W, C) saved alone by CODECS[codec], once its file
    has decoded back to the image bit for bit (CodecError otherwise, naming the codec and the images): (n,)."""
    coder = CODECS[codec]
    planes = images[..., 0] if images.shape[-1] == 1 else images  # (n, H, W) grey or (n, H, W, 3)
    files = [coder.encode(plane) for plane in planes]
    lossless = np.array([same_pixels(image, coder.decode(data)) for image, data in zip(images, files, strict=True)])
    if not lossless.all():
        bad = np.flatnonzero(~lossless)
        raise CodecError(
            f"{codec} ({coder.settings}, {codec_libraries()}): the files of test images {bad[:10].tolist()}"
            f"{' ...' if len(bad) > 10 else ''} ({len(bad)} of {len(images)}) do not decode to their images bit "
            "for bit, so its bits/dim would not be a lossless figure; check the codec library's version"
        )
    return 8 * np.array([len(data) for data in files], dtype=np.float64) / images[0].size


def histogram_entropy_bits_per_dim(images: np.ndarray) -> float:
    """Mean over channels of the entropy (bits) of the channel's value histogram over all of images (n, H, W, C)."""
    values = images.reshape(-1, images.shape[-1])  # (n H W, C)
    counts = np.stack([np.bincount(values[:, c], minlength=256) for c in range(values.shape[1])])  # (C, 256)
    p = counts / counts.sum(1, keepdims=True)
    return float(-np.sum(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1)), 0)) / values.shape[1])


def reference_rows(images: np.ndarray, blocks: np.ndarray | None = None) -> pd.DataFrame:
    """The codec and entropy rows for uint8 test images (n, H, W, C): model, test_bpd, test_bpd_se (over images,
    clustered by `blocks` where given; none for the entropy, a property of the whole set), n_test and source."""
    rows = []
    for name in CODECS:
        mean, se = mean_and_se(file_bits_per_dim(images, name), blocks)
        rows.append({"model": name, "test_bpd": mean, "test_bpd_se": se})
    rows.append({"model": "per-channel histogram entropy", "test_bpd": histogram_entropy_bits_per_dim(images)})
    return pd.DataFrame(rows).assign(n_test=len(images), source=REFERENCE_SOURCE)


def best_codec(table: pd.DataFrame) -> pd.Series | None:
    """The row of table with the lowest test bits/dim among the codecs' reference rows (not the entropy, which no
    file reaches); None where the table has none."""
    codecs = table[(table["source"] == REFERENCE_SOURCE) & table["model"].isin(list(CODECS))]
    return None if codecs.empty else codecs.loc[codecs["test_bpd"].idxmin()]


def data_reference_rows(data_path: str | Path) -> pd.DataFrame:
    """reference_rows of the test images of an 8-bit data file written by the data stage, clustered by their blocks
    where it records them."""
    with open_h5(data_path) as f:
        images = f["x_test"][()].reshape(-1, *image_shape(data_path))  # uint8 (n, H, W, C)
    return reference_rows(images, split_blocks(data_path, "test"))
