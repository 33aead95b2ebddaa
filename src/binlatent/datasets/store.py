"""The data stage's HDF5 file: the uint8 splits it stores, and reading them and its attributes back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from binlatent.datasets.base import SPLITS, RawDataset, binarise, why_8bit
from binlatent.hdf5 import open_h5


def prepared_splits(raw: RawDataset, seed: int) -> dict[str, np.ndarray]:
    """x_{split} as uint8 (binary images binarised, 8-bit images unchanged), y_{split} where labels are known, and
    block_{split} where images share regions.

    Binarisation draws one fixed-seed stream per split: adding data never reshuffles another split.
    """
    out = {}
    for i, split in enumerate(SPLITS):
        x = raw.images[split]
        out[f"x_{split}"] = binarise(x, np.random.default_rng([seed, i])) if raw.pixels == "binary" else x
        if split in raw.labels:
            out[f"y_{split}"] = raw.labels[split]
        if split in raw.blocks:
            out[f"block_{split}"] = raw.blocks[split]
    return out


def split_blocks(path: str | Path, split: str) -> np.ndarray | None:
    """The region (block) of each image of `split` in a data file written by the data stage; None where it has none."""
    with open_h5(path) as f:
        return f[f"block_{split}"][()] if f"block_{split}" in f else None


def load_splits(path: str | Path) -> dict[str, np.ndarray]:
    """The splits written by the data stage, as float32 arrays (n, D): 0/1, or 0..255 for 8-bit images."""
    with open_h5(path) as f:
        return {s: f[f"x_{s}"][()].astype(np.float32) for s in SPLITS}


def pixel_kind(path: str | Path) -> str:
    """'binary' or '8bit': the kind of the pixels in a data file written by the data stage."""
    with open_h5(path) as f:
        return str(f.attrs["pixels"])


def image_shape(path: str | Path) -> tuple[int, ...]:
    """(H, W) of binary images or (H, W, C) of 8-bit images in a data file written by the data stage."""
    with open_h5(path) as f:
        return tuple(int(v) for v in f.attrs["image_shape"])


def why_stored_8bit(path: str | Path) -> str:
    """Why the images of a data file written by the data stage count as 8-bit, and how to give binary images
    instead (`base.why_8bit`), from the file's attributes and its training images."""
    with open_h5(path) as f:
        x, attrs = f["x_train"][()], f.attrs
        dataset = json.loads(attrs["config"]).get("dataset", "?") if "config" in attrs else "?"
        shape = tuple(int(n) for n in attrs["image_shape"])
        return why_8bit(dataset, str(attrs["source"]), shape, int(x.min()), int(x.max()))
