"""What made an artifact: config, seed, git revision, library versions."""

from __future__ import annotations

import functools
import json
import platform
import subprocess
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

LIBRARIES = ("binlatent", "torch", "numpy", "h5py", "snakemake", "pandas", "matplotlib")


@functools.cache
def git_revision() -> str:
    """The commit of the source tree, with '-dirty' when it has uncommitted changes."""
    root = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


@functools.cache
def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def provenance(config: Mapping[str, Any] | None) -> dict[str, str | int]:
    config = dict(config or {})
    return {
        "config": json.dumps(config, sort_keys=True, default=str),
        "seed": int(config.get("seed", -1)),
        "git_revision": git_revision(),
        "library_versions": json.dumps(library_versions(), sort_keys=True),
    }
