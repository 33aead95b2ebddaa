"""Atomic writes, HDF5 artifacts with provenance, and safe checkpoint loading."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from binlatent.provenance import provenance


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    tmp_path.chmod(0o666 & ~umask)  # mkstemp makes the file private; artifacts get the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_h5(
    path: str | os.PathLike,
    arrays: Mapping[str, np.ndarray | torch.Tensor],
    config: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> None:
    """Write named arrays (keys may contain '/' for groups) plus provenance attributes."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name, value in arrays.items():
            if isinstance(value, torch.Tensor):
                value = value.detach().cpu().numpy()
            f.create_dataset(name, data=np.asarray(value), compression="gzip" if np.size(value) > 4096 else None)
        for key, value in {**provenance(config), **(attrs or {})}.items():
            f.attrs[key] = _attr_value(value)


def _attr_value(value: Any) -> Any:
    """Numbers, strings and flat lists of numbers as they are; anything else as JSON text."""
    if isinstance(value, (int, float, str, np.number)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value):
        return np.asarray(value)
    return json.dumps(value)


def read_h5(path: str | os.PathLike, names: list[str] | None = None) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        keys = names if names is not None else _dataset_names(f)
        return {k: f[k][()] for k in keys}


def read_h5_attrs(path: str | os.PathLike) -> dict[str, Any]:
    with h5py.File(path, "r") as f:
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
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint with weights_only=True (no arbitrary code runs)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise ValueError(f"{path}: not a readable checkpoint ({err}); delete it and rerun the step") from err
