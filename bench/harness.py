"""Timing protocol, matmul-only bounds and result I/O shared by the benchmark suite."""

from __future__ import annotations

import csv
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def best_of(fn: Callable[[], Any], repeats: int, warmup: Callable[[], Any] | None = None) -> tuple[float, Any]:
    """Minimum wall time of `repeats` calls of fn after one warm-up call (of `warmup`, else of fn); also fn's last result."""
    (warmup or fn)()
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def binary_like(rows: int, cols: int, p: float, generator: torch.Generator) -> torch.Tensor:
    """A float32 (rows, cols) matrix of independent Bernoulli(p) entries."""
    return (torch.rand(rows, cols, generator=generator) < p).float()


def epoch_matmul_runner(W: torch.Tensor, data: torch.Tensor, batch: int, generator: torch.Generator) -> Callable:
    """One epoch of contrastive_step's four matmuls only, with its shapes, layouts and out= buffers."""
    W = W.detach().clone()
    n_visible, n_hidden = W.shape
    v_all = binary_like(2 * batch, n_visible, 0.2, generator)  # rows: data batch, then negative samples
    h_all = torch.rand(2 * batch, n_hidden, generator=generator)
    chains = binary_like(batch, n_hidden, 0.5, generator)
    batches = data.split(batch)

    def run() -> None:
        for v_data in batches:
            torch.mm(v_data, W, out=h_all[:batch])  # positive p(h|v)
            torch.mm(chains, W.T, out=v_all[batch:])  # negative visible logits
            torch.mm(v_all[batch:], W, out=h_all[batch:])  # negative p(h|v)
            W.addmm_(v_all.T, h_all, alpha=1e-6)  # stacked gradient, accumulated into W as contrastive_step does

    return run


def ais_matmul_runner(W: torch.Tensor, n_runs: int, n_steps: int, generator: torch.Generator) -> Callable:
    """The two matmuls of each of `n_steps` AIS steps (v W and h W^T into preallocated buffers), nothing else."""
    W = W.detach()
    n_visible, n_hidden = W.shape
    v, h = binary_like(n_runs, n_visible, 0.2, generator), binary_like(n_runs, n_hidden, 0.5, generator)
    x, logits_v = torch.empty(n_runs, n_hidden), torch.empty(n_runs, n_visible)

    def run() -> None:
        for _ in range(n_steps):
            torch.mm(v, W, out=x)
            torch.mm(h, W.T, out=logits_v)

    return run


def workflow_rule_times(results: Path) -> dict[str, float]:
    """Seconds per rule from Snakemake benchmark TSVs under results/**/benchmarks (shallowest path wins a name clash)."""
    times: dict[str, float] = {}
    for path in sorted(results.glob("**/benchmarks/*.tsv"), key=lambda p: (len(p.parts), str(p))):
        with path.open(newline="") as f:
            seconds = [float(row["s"]) for row in csv.DictReader(f, delimiter="\t") if row.get("s") not in (None, "")]
        if seconds:
            times.setdefault(path.stem, min(seconds))
    return times


def machine_info() -> dict[str, Any]:
    """CPU count, torch threads and library versions of this run."""
    from importlib.metadata import PackageNotFoundError, version

    def pkg(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy_version": pkg("numpy"),
        "sklearn_version": pkg("scikit-learn"),
        "rbms_version": pkg("rbms"),
    }


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON to a temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
