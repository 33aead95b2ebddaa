"""Atomic writes, HDF5 artifacts with provenance, and safe checkpoint loading."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import pickle
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

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


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_h5(
    path: str | os.PathLike,
    arrays: Mapping[str, np.ndarray | torch.Tensor],
    config: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> None:
    """Write named arrays (keys may contain '/' for groups) plus provenance attributes.

    The file is built in memory and written in one go: HDF5 crashes the process (segmentation fault) when it
    closes a file whose chunked dataset could not be written for lack of space."""
    image = _h5_image(arrays, {**provenance(config), **(attrs or {})})
    with atomic_path(path) as tmp:
        tmp.write_bytes(image.getbuffer())


def _h5_image(arrays: Mapping[str, np.ndarray | torch.Tensor], attrs: Mapping[str, Any]) -> io.BytesIO:
    """The bytes of an HDF5 file holding `arrays` (gzip for those over 4096 values) and `attrs`."""
    image = io.BytesIO()
    with h5py.File(image, "w") as f:
        for name, value in arrays.items():
            if isinstance(value, torch.Tensor):
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


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any], config: Mapping[str, Any] | None) -> None:
    """Save a checkpoint atomically; provenance goes in as a JSON string so it loads with weights_only."""
    payload = dict(state)
    payload["provenance"] = json.dumps(provenance(config))
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        torch.save(payload, f)  # through a Python file, so that the OS error of a failed write reaches atomic_path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint with weights_only=True (no arbitrary code runs).

    A file the safe loader refuses raises ValueError saying why, without torch's advice to load it unsafely
    (not even in the traceback)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - any other failure means a file we cannot load safely
        raise _refusal(path, err) from None


def _refusal(path: str | os.PathLike, err: Exception) -> ValueError:
    """The error for a checkpoint the safe loader failed on: one that would run code, or a corrupt one."""
    reason = _safe_loader_reason(err)
    unsafe = re.search(r"GLOBAL (\S+)", reason)
    if unsafe:
        return ValueError(
            f"{path} contains objects that would run code when loaded ({unsafe[1]}), so it was refused; "
            "load it without the safe loader only if its origin is trusted"
        )
    return ValueError(f"{path}: not a readable checkpoint ({reason}); delete it and rerun the step")


def _safe_loader_reason(err: Exception) -> str:
    """What the safe loader objected to: torch wraps its unpickler's error in advice to load the file with
    weights_only=False, and keeps the bare error as the context."""
    if isinstance(err, pickle.UnpicklingError) and err.__context__ is not None:
        return str(err.__context__)
    return str(err)
