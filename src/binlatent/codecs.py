"""Reference rows for 8-bit results tables: what lossless image codecs and a histogram entropy achieve on the same
test images, in bits per dimension, so that a reader sees whether a model beats a file format.

- PNG (Pillow, optimize=True) and WebP lossless (Pillow, lossless=True, quality=100, method=6): each test image
  compressed on its own; bits/dim = 8 * file bytes / (H W C), headers included, as a file of that image would be.
- The empirical per-channel histogram entropy: the entropy of each colour channel's 256-value histogram over all
  test images, averaged over channels; what an ideal coder of independent values achieves with the test set's
  own value frequencies (known to the coder, so an optimistic figure for a coder of that kind).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from binlatent.datasets import image_shape, split_blocks
from binlatent.hdf5 import open_h5
from binlatent.stats import clustered_se

REFERENCE_SOURCE = "reference: not a model"
CODECS = {
    "PNG (optimised), per image": ("PNG", {"optimize": True}),
    "WebP lossless, per image": ("WEBP", {"lossless": True, "quality": 100, "method": 6}),
}


def file_bits_per_dim(images: np.ndarray, image_format: str, options: dict) -> np.ndarray:
    """8 * bytes / (H W C) of each uint8 image of images (n, H, W, C) saved alone in `image_format`: (n,)."""
    sizes = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, image_format, **options)
        sizes.append(buffer.getbuffer().nbytes)
    return 8 * np.array(sizes, dtype=np.float64) / images[0].size


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
    for name, (image_format, options) in CODECS.items():
        bits = file_bits_per_dim(images, image_format, options)
        se = bits.std(ddof=1) / np.sqrt(len(bits)) if blocks is None else clustered_se(bits, blocks)
        rows.append({"model": name, "test_bpd": bits.mean(), "test_bpd_se": se})
    rows.append({"model": "per-channel histogram entropy", "test_bpd": histogram_entropy_bits_per_dim(images)})
    return pd.DataFrame(rows).assign(n_test=len(images), source=REFERENCE_SOURCE)


def data_reference_rows(data_path: str | Path) -> pd.DataFrame:
    """reference_rows of the test images of an 8-bit data file written by the data stage, clustered by their blocks
    where it records them."""
    with open_h5(data_path) as f:
        images = f["x_test"][()].reshape(-1, *image_shape(data_path))  # uint8 (n, H, W, C)
    return reference_rows(images, split_blocks(data_path, "test"))
