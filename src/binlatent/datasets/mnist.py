"""dataset "mnist": MNIST's 28x28 digits through torchvision, read from (or downloaded into) data_path, or the
standard fixed binarisation of MNIST from its .amat files there."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from torchvision.datasets import MNIST

from binlatent.datasets.base import SPLITS, DataError, RawDataset, first_rows, official_set, official_splits

FIXED_MNIST_URL = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"


def _read_amat(path: Path) -> np.ndarray:
    """One file of MNIST's fixed binarisation: one image a line, 784 space-separated 0/1 values; uint8 (n, 784)."""
    if not path.is_file():
        raise DataError(
            f"{path}: not found; data.binarisation 'fixed' reads the standard fixed binarisation of MNIST "
            "(Larochelle & Murray, 2011): put binarized_mnist_train.amat, binarized_mnist_valid.amat and "
            f"binarized_mnist_test.amat from {FIXED_MNIST_URL} in data_path, or set data.binarisation: stochastic"
        )
    try:
        x = np.loadtxt(path, dtype=np.uint8, ndmin=2)
    except ValueError as err:
        raise DataError(f"{path}: cannot be read as lines of 784 space-separated 0/1 values ({err})") from err
    if x.shape[1] != 784 or x.max() > 1:
        raise DataError(f"{path}: holds {x.shape[1]} values a line in [0, {x.max()}]; expected 784 values 0/1")
    return x


def fixed_mnist_dataset(root: Path, n_valid: int, n_test: int) -> RawDataset:
    """MNIST's standard fixed binarisation: its train, valid and test files, valid and test cut to n_valid, n_test."""
    x = {s: _read_amat(root / f"binarized_mnist_{s}.amat") for s in SPLITS}
    for split, n in (("valid", n_valid), ("test", n_test)):
        x[split] = first_rows(x[split], n, f"n_{split}", str(root / f"binarized_mnist_{split}.amat"))
    return RawDataset(x, {}, (28, 28), f"fixed binarisation of MNIST, binarized_mnist_*.amat in {root}")


def mnist_dataset(root: Path, n_valid: int, n_test: int, binarisation: str, seed: int) -> RawDataset:
    """MNIST's 28x28 digits: intensities for the stochastic binarisation, or the standard fixed binarisation."""
    if binarisation == "fixed":
        return fixed_mnist_dataset(root, n_valid, n_test)
    train, test = (official_set(MNIST, root, t, "MNIST") for t in (True, False))
    return official_splits(train, test, n_valid, n_test, seed, f"torchvision MNIST in {root}", "binary")


def from_config(config: Mapping[str, Any]) -> RawDataset:
    """MNIST in data_path, binarised as data.binarisation says, valid held out by the seed."""
    dcfg = config["data"]
    root = Path(config["data_path"])
    return mnist_dataset(root, dcfg["n_valid"], dcfg["n_test"], dcfg["binarisation"], config["seed"])
