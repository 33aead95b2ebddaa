"""Atomic writes, and HDF5 artifacts with provenance (checkpoints: binlatent.checkpoints)."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from binlatent.hdf5 import open_h5
from binlatent.provenance import provenance

# Free bytes under which a write failure that lost its errno (torch's zip writer says only "unexpected pos")
# is taken for a full device: a write that ran out of space leaves less than a block free.
NEARLY_FULL_BYTES = 1 << 20


class ArtifactWriteError(OSError):
    """An artifact could not be written; the message names the path and the cause."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The temporary file never outlives the block. An OS error, or a writer's error raised on a full device,
    becomes an ArtifactWriteError that names `path` and the cause (chained to the original)."""
    target = Path(path)
    tmp: Path | None = None
    try:
        tmp = _temporary_beside(target)
        yield tmp
        os.replace(tmp, target)
    except (OSError, RuntimeError) as err:
        code = _errno(err) or (errno.ENOSPC if _nearly_full(target.parent) else None)
        _discard(tmp)
        if code is None and not isinstance(err, OSError):
            raise  # not a failure to write, e.g. a bug in the block
        raise ArtifactWriteError(f"cannot write {target}: {_reason(code, err, target.parent)}") from err
    finally:
        _discard(tmp)


def _temporary_beside(target: Path) -> Path:
    """A new empty file in `target`'s folder (created if missing), with the usual permissions of artifacts."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    Path(name).chmod(0o666 & ~umask)  # mkstemp makes the file private
    return Path(name)


def _discard(tmp: Path | None) -> None:
    if tmp is not None:
        tmp.unlink(missing_ok=True)


def _errno(err: BaseException) -> int | None:
    """The errno of `err`, or of an OS error it was raised from or while handling (torch keeps the one its
    writer hit as the context of its own RuntimeError)."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno is not None:
            return seen.errno
        seen = seen.__cause__ or seen.__context__
    return None


def _nearly_full(directory: Path) -> bool:
    return shutil.disk_usage(directory).free < NEARLY_FULL_BYTES


def _reason(code: int | None, err: BaseException, directory: Path) -> str:
    """The cause of a failed write: the device being full with the space left, else the OS's own words."""
    if code == errno.ENOSPC:
        free_mb = shutil.disk_usage(directory).free / 1e6
        return f"no space left on device ({free_mb:.1f} MB free in {directory})"
    return os.strerror(code) if code is not None else str(err)


@contextlib.contextmanager
def replaced_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh empty folder beside `path`; only if the block succeeds, it takes the place of `path` (the
    previous folder is removed after the swap). A failure leaves `path` as it was."""
    target = Path(path)
    fresh, old = target.with_name(f".{target.name}.new"), target.with_name(f".{target.name}.old")
    for leftover in (fresh, old):
        shutil.rmtree(leftover, ignore_errors=True)
    fresh.mkdir(parents=True)
    try:
        yield fresh
        if target.exists():
            os.replace(target, old)
        os.replace(fresh, target)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_h5(
    path: str | os.PathLike,
    arrays: Mapping[str, Any],
    config: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> None:
    """Write named arrays (keys may contain '/' for groups) plus provenance attributes.

    The file is built in memory and written in one go: HDF5 crashes the process (segmentation fault) when it
    closes a file whose chunked dataset could not be written for lack of space."""
    image = _h5_image(arrays, {**provenance(config), **(attrs or {})})
    with atomic_path(path) as tmp:
        tmp.write_bytes(image.getbuffer())


def _h5_image(arrays: Mapping[str, Any], attrs: Mapping[str, Any]) -> io.BytesIO:
    """The bytes of an HDF5 file holding `arrays` (gzip for those over 4096 values) and `attrs`."""
    image = io.BytesIO()
    with h5py.File(image, "w") as f:
        for name, value in arrays.items():
            if hasattr(value, "detach"):  # a torch tensor, converted without importing torch here
                value = value.detach().cpu().numpy()
            f.create_dataset(name, data=np.asarray(value), compression="gzip" if np.size(value) > 4096 else None)
        for key, value in attrs.items():
            f.attrs[key] = _attr_value(value)
    return image


def _attr_value(value: Any) -> Any:
    """Numbers, strings and flat lists of numbers as they are; anything else as JSON text."""
    if isinstance(value, (int, float, str, np.number)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value):
        return np.asarray(value)
    return json.dumps(value)


def read_h5(path: str | os.PathLike, names: list[str] | None = None) -> dict[str, np.ndarray]:
    with open_h5(path) as f:
        keys = names if names is not None else _dataset_names(f)
        return {k: f[k][()] for k in keys}


def read_h5_names(path: str | os.PathLike) -> list[str]:
    """The names of every dataset in an HDF5 file, groups joined by '/'."""
    with open_h5(path) as f:
        return _dataset_names(f)


def read_h5_attrs(path: str | os.PathLike) -> dict[str, Any]:
    with open_h5(path) as f:
        return dict(f.attrs)


def _dataset_names(group: h5py.Group, prefix: str = "") -> list[str]:
    names = []
    for key, item in group.items():
        if isinstance(item, h5py.Dataset):
            names.append(prefix + key)
        else:
            names.extend(_dataset_names(item, prefix + key + "/"))
    return names


def read_curves(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The training curves of a stage's HDF5 (its `curves/` arrays), keyed by metric."""
    prefix = "curves/"
    return {k[len(prefix) :]: v for k, v in read_h5(path).items() if k.startswith(prefix)}
