"""Checkpoints: saved atomically with provenance, loaded safely (weights only, no code runs)."""

from __future__ import annotations

import json
import os
import pickle
import re
from collections.abc import Mapping
from typing import Any

import torch

from binlatent.io import atomic_path
from binlatent.provenance import provenance


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
