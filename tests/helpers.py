"""Running the real snakemake command from the tests, and reading what configs/smoke.yaml runs write."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SMOKE_MODELS = ["hybrid", "factorised", "hybrid_scratch", "iwae", "rbm_pixels"]  # config['models'] of the smoke run
WALL_TIMES = ["train_seconds", "eval_seconds"]  # the metrics' columns that differ between identical runs


def snakemake(*args: str, timeout: int = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `snakemake ARGS` in the repository root, in `env` (default: ours); the finished process (not checked)."""
    cmd = [sys.executable, "-m", "snakemake", "--nolock", *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)


def metrics(out: Path, model: str) -> pd.DataFrame:
    """A model's metrics.csv from the run in `out`, without its wall times."""
    return pd.read_csv(out / model / "metrics.csv").drop(columns=WALL_TIMES)
