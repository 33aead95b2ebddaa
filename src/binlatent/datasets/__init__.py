"""Datasets: load, validate and split images, binarise the binary kind, into one HDF5 file of uint8 splits.

Each dataset a config can name has a module of the same name here (digits, file, mnist, cifar10, patches), built on
base alone, with a from_config that loaders.LOADERS calls by name. The package itself holds the types, the errors and
the data stage's HDF5 file (store.py), which every stage reads.
"""

from __future__ import annotations

from binlatent.datasets.base import SPLITS, DataError, RawDataset
from binlatent.datasets.store import (
    image_shape,
    load_splits,
    pixel_kind,
    prepared_splits,
    split_blocks,
    why_stored_8bit,
)

__all__ = [
    "SPLITS",
    "DataError",
    "RawDataset",
    "image_shape",
    "load_splits",
    "pixel_kind",
    "prepared_splits",
    "split_blocks",
    "why_stored_8bit",
]
