"""dataset "file": the user's own images in a .npz or .h5 file at data_path, validated array by array."""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from binlatent.datasets.base import SPLITS, DataError, RawDataset, hold_out, why_8bit
from binlatent.hdf5 import CHECK_USER_FILE, ArtifactReadError, open_h5

log = logging.getLogger("binlatent")
WANTED = tuple(f"{kind}_{split}" for kind in ("x", "y") for split in SPLITS)  # read; other arrays are skipped


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """The WANTED arrays of a .npz, refusing object arrays by name without unpickling them; all array names."""
    with np.load(path, allow_pickle=False) as f:
        wanted = [name for name in WANTED if name in f.files]
        for name in wanted:
            dtype = _npy_dtype(f.zip, f"{name}.npy")
            if dtype.hasobject:
                raise DataError(
                    f"{path}: array '{name}' has dtype {dtype}: Python objects that only pickle can read (e.g. a list "
                    "of differently sized images), and a data file is never unpickled; store it as a numeric array, "
                    "e.g. np.stack(images) of equally sized images, or integer labels"
                )
        return {name: f[name] for name in wanted}, f.files


def _npy_dtype(archive: zipfile.ZipFile, member: str) -> np.dtype:
    """The dtype in the .npy header of one archive member, read without reading the array."""
    with archive.open(member) as fp:
        version = np.lib.format.read_magic(fp)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        return read_header(fp)[2]


def _read_h5(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """The WANTED datasets of an HDF5 file, refusing a group under a WANTED name; the names of all its datasets."""
    with open_h5(path, CHECK_USER_FILE) as f:
        for name in WANTED:
            if isinstance(f.get(name), h5py.Group):
                raise DataError(
                    f"{path}: '{name}' is an HDF5 group, not a dataset (it holds: {', '.join(f[name]) or 'nothing'}); "
                    f"store the array itself under '{name}', e.g. f['{name}'] = x with h5py"
                )
        names = [k for k in f.keys() if isinstance(f[k], h5py.Dataset)]
        return {name: f[name][()] for name in WANTED if name in names}, names


READERS = {".npz": _read_npz, ".h5": _read_h5, ".hdf5": _read_h5}


def _read_arrays(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """The file's arrays among WANTED, and the names of all its arrays."""
    if not path.exists():
        raise DataError(f"{path}: data file not found; set data_path to an existing .npz or .h5 file")
    if path.is_dir():
        found = ", ".join(sorted(entry.name for entry in path.iterdir() if entry.suffix in READERS)) or "none"
        raise DataError(
            f"{path}: data_path is a directory; give the .npz or .h5 file itself (suffix .npz, .h5 or .hdf5; "
            f"found there: {found})"
        )
    if path.suffix not in READERS:
        raise DataError(f"{path}: unknown file type '{path.suffix}'; use .npz or .h5")
    try:
        return READERS[path.suffix](path)
    except DataError:
        raise
    except ArtifactReadError as err:
        raise DataError(str(err)) from err
    except Exception as err:  # noqa: BLE001 - numpy/h5py raise many types for damaged files
        raise DataError(f"{path}: cannot be read ({err}); the file is truncated or not a valid archive") from err


def _check_images(path: Path, name: str, x: np.ndarray) -> tuple[np.ndarray, str]:
    """Validate one split array; return it flattened to (n, D) with its pixel kind (float64 binary, or uint8 8bit)."""
    if x.ndim not in (2, 3, 4):
        raise DataError(
            f"{path}: array '{name}' has shape {x.shape}; expected (N, D) or (N, H, W), or (N, H, W, C) for 8-bit"
        )
    if x.shape[0] == 0:
        raise DataError(
            f"{path}: array '{name}' is empty (0 images); store at least one image in each x_ array (an absent "
            "x_valid is held out of x_train)"
        )
    if 0 in x.shape[1:]:
        raise DataError(
            f"{path}: array '{name}' has shape {x.shape}: 0 pixels per image; store the images' pixels as (N, D) or "
            "(N, H, W), or uint8 (N, H, W, C) for 8-bit, with no axis of length 0"
        )
    if x.ndim == 4 and not _is_grey_with_channel(x):
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


def _log_8bit(path: Path, x: np.ndarray) -> None:
    """Say in the data stage's log that the images count as 8-bit, why, and what that means; a warning for grey
    images (one channel), which may have been meant as binary or intensity images."""
    level = logging.WARNING if x.shape[-1] == 1 else logging.INFO
    log.log(
        level,
        "%s: the images are stored as 8-bit, modelled by a discretised logistic likelihood (an RBM on the pixels and "
        "an RBM stack, stage1.init: rbm_stack, need binary images): %s",
        path, why_8bit("file", str(path), x.shape[1:], int(x.min()), int(x.max())),
    )  # fmt: skip


def _is_grey_with_channel(x: np.ndarray) -> bool:
    """Float images (N, H, W, 1): grey images with one trailing channel, read as the (N, H, W) they are."""
    return x.ndim == 4 and x.shape[3] == 1 and np.issubdtype(x.dtype, np.floating)


def file_dataset(path: str | Path, n_valid: int, seed: int) -> RawDataset:
    """The user's .npz/.h5 with x_train, x_test and optionally x_valid (else carved from x_train)."""
    path = Path(path)
    arrays, names = _read_arrays(path)
    for required in ("x_train", "x_test"):
        if required not in arrays:
            raise DataError(f"{path}: missing array '{required}' (found: {', '.join(sorted(names)) or 'none'})")
    checked = {s: _check_images(path, f"x_{s}", arrays[f"x_{s}"]) for s in SPLITS if f"x_{s}" in arrays}
    kinds = {f"x_{s}": kind for s, (_, kind) in checked.items()}
    if len(set(kinds.values())) != 1:
        raise DataError(
            f"{path}: arrays mix 8-bit images (N, H, W, C) and binary/[0, 1] images {kinds}; store every x_ array "
            "the same way"
        )
    pixels = kinds["x_train"]
    if pixels == "8bit":
        _log_8bit(path, arrays["x_train"])
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
    return RawDataset(images, labels, _file_image_shape(arrays["x_train"].shape[1:], pixels), str(path), pixels)


def _file_image_shape(raw_shape: tuple[int, ...], pixels: str) -> tuple[int, ...]:
    """(H, W) or 8-bit (H, W, C) as stored, grey (H, W, 1) as (H, W); D pixels as a square if D is one, else (1, D)."""
    if pixels == "binary":
        raw_shape = raw_shape[:2]
    if len(raw_shape) > 1:
        return tuple(raw_shape)
    side = int(round(np.sqrt(raw_shape[0])))
    return (side, side) if side * side == raw_shape[0] else (1, raw_shape[0])


def from_config(config: Mapping[str, Any]) -> RawDataset:
    """The file at data_path, x_valid carved from x_train by the seed when absent (data.n_valid images)."""
    return file_dataset(config["data_path"], config["data"]["n_valid"], config["seed"])
