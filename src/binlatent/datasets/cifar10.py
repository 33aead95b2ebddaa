"""dataset "cifar10": CIFAR-10's 32x32 colour images as 8-bit pixels, through torchvision, read from (or downloaded
into) data_path; damaged batch files are named."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from torchvision.datasets import CIFAR10

from binlatent.datasets.base import DataError, RawDataset, official_set, official_splits

CIFAR10_FILES = [name for name, _ in CIFAR10.train_list + CIFAR10.test_list] + [CIFAR10.meta["filename"]]


class _PresentCIFAR10(CIFAR10):
    """torchvision's CIFAR-10 reader that only checks that the files exist, not their MD5 sums."""

    train_list = [[name, None] for name, _ in CIFAR10.train_list]
    test_list = [[name, None] for name, _ in CIFAR10.test_list]
    meta = {**CIFAR10.meta, "md5": None}


def _damaged_batch(folder: Path, train: bool) -> tuple[Path, str] | None:
    """The first batch file of a CIFAR-10 set that torchvision cannot read as a batch, and what is wrong with it."""
    for name, _ in CIFAR10.train_list if train else CIFAR10.test_list:
        path = folder / name
        try:
            with open(path, "rb") as f:
                entry = pickle.load(f, encoding="latin1")  # as torchvision reads it
            data, n_labels = np.asarray(entry["data"]), len(entry["labels"])
        except Exception as err:  # noqa: BLE001 - a damaged pickle raises many types
            return path, f"cannot be read as a CIFAR-10 batch ({err!r})"
        if data.dtype != np.uint8 or data.shape != (n_labels, 3072):
            return (
                path,
                f"holds data {data.dtype} {data.shape} and {n_labels} labels; expected uint8 (n, 3072), n labels",
            )
    return None


def cifar10_set(root: Path, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """An official CIFAR-10 set, uint8 (n, 32, 32, 3) and labels: from root/cifar-10-batches-py, else downloaded.

    torchvision checks the MD5 sums of what it downloads, not of files already there.
    """
    folder = root / CIFAR10.base_folder
    present = all((folder / name).is_file() for name in CIFAR10_FILES)
    try:
        return official_set(_PresentCIFAR10 if present else CIFAR10, root, train, "CIFAR-10")
    except DataError as err:
        damaged = _damaged_batch(folder, train) if present else None
        if damaged is None:
            raise
        path, problem = damaged
        raise DataError(
            f"{path}: {problem}; the file is damaged or not CIFAR-10's: delete {folder} to download it again"
        ) from err


def cifar10_dataset(root: Path, n_valid: int, n_test: int, seed: int) -> RawDataset:
    """CIFAR-10's 32x32 colour images, 8-bit."""
    train, test = (cifar10_set(root, t) for t in (True, False))
    return official_splits(train, test, n_valid, n_test, seed, f"torchvision CIFAR-10 in {root}", "8bit")


def from_config(config: Mapping[str, Any]) -> RawDataset:
    """CIFAR-10 in data_path, valid held out by the seed."""
    dcfg = config["data"]
    return cifar10_dataset(Path(config["data_path"]), dcfg["n_valid"], dcfg["n_test"], config["seed"])
