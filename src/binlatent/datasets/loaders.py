"""The loaders of the datasets a config can name, each imported by name when it is first called: torchvision and
scikit-learn take seconds to import, and only the data stage loads a dataset. The config checks they need."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from binlatent.datasets.base import DOWNLOADED, DataError, RawDataset, first_rows

Loader = Callable[[Mapping[str, Any]], RawDataset]


def _loader(name: str) -> Loader:
    """The from_config of module binlatent.datasets.<name>, which is imported on the first call."""

    def load(config: Mapping[str, Any]) -> RawDataset:
        return importlib.import_module(f"binlatent.datasets.{name}").from_config(config)

    return load


LOADERS: dict[str, Loader] = {name: _loader(name) for name in ("digits", "file", "mnist", "cifar10", "patches")}


def check_config(config: Mapping[str, Any]) -> None:
    """The dataset's needs that the schema cannot express: a data_path where one is read, fixed binarisation;
    checked when the run is planned, before any job starts."""
    dataset, data_path = config["dataset"], config["data_path"]
    if dataset == "file" and not data_path:
        raise DataError(
            "config: dataset is 'file' but data_path is empty: pass --config data_path=my_images.npz, an .npz or .h5 "
            "file with arrays x_train and x_test"
        )
    if dataset == "file" and not Path(data_path).is_file():
        raise DataError(f"config: data_path '{data_path}' is not a file: give the path of your .npz or .h5 file")
    if dataset in DOWNLOADED and not data_path:
        raise DataError(
            f"config: dataset is '{dataset}' but data_path is empty; set data_path to the directory that holds "
            f"{dataset} (torchvision downloads it there when absent), e.g. --config data_path=data/{dataset}"
        )
    if config["data"]["binarisation"] == "fixed" and dataset != "mnist":
        raise DataError(
            f"config: data.binarisation 'fixed' is the standard fixed binarisation of MNIST, but dataset is "
            f"'{dataset}'; use dataset 'mnist' or data.binarisation 'stochastic'"
        )


def load_dataset(config: Mapping[str, Any]) -> RawDataset:
    """The dataset config['dataset'] names, split into train/valid/test; train capped at data.n_train (0: all)."""
    check_config(config)
    dataset, n_train = config["dataset"], config["data"]["n_train"]
    if dataset not in LOADERS:
        raise DataError(f"config: dataset '{dataset}' has no loader in this workflow")
    raw = LOADERS[dataset](config)
    if n_train:
        for store in (raw.images, raw.labels):
            if "train" in store:
                store["train"] = first_rows(store["train"], n_train, "n_train", f"{raw.source}: train")
    return raw
