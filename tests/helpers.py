"""Running the real snakemake command from the tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def snakemake(*args: str, timeout: int = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `snakemake ARGS` in the repository root, in `env` (default: ours); the finished process (not checked)."""
    cmd = [sys.executable, "-m", "snakemake", "--nolock", *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)
