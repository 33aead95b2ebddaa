"""Timing protocol, matmul-only bounds and result I/O shared by the benchmark suite."""

from __future__ import annotations

import csv
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from binlatent.paths import BENCHMARKS


@dataclass
class Task:
    """A measurement: fn is timed `repeats` times after one call of `warmup` (fn itself when None)."""

    fn: Callable[[], Any]
    repeats: int
    warmup: Callable[[], Any] | None = None


@dataclass
class Timing:
    """The fastest repeat of a task: seconds, fn's result, and the CPU share other processes took meanwhile."""

    seconds: float = float("inf")
    result: Any = None
    foreign_cpu_share: float | None = None


CPU = torch.device("cpu")


def synchronize(device: torch.device) -> None:
    """Wait until the work queued on `device` is done (CUDA kernels run asynchronously; the CPU needs nothing)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def round_robin(
    tasks: dict[str, Task], log: Callable[[str], None] = print, device: torch.device = CPU
) -> dict[str, Timing]:
    """Warm every task up once, then time them in interleaved rounds, keeping each one's fastest repeat.

    Interleaving exposes a task and its bound to the same background load, so their ratio stays fair. The clock is
    read only once `device` has finished all work queued before it, at the start and at the end of each repeat.
    """
    timings = {name: Timing() for name in tasks}
    for name, task in tasks.items():
        log(f"warm-up: {name}")
        (task.warmup or task.fn)()
    for r in range(max(task.repeats for task in tasks.values())):
        for name, task in tasks.items():
            if r >= task.repeats:
                continue
            synchronize(device)
            jiffies, start = cpu_jiffies(), time.perf_counter()
            result = task.fn()
            synchronize(device)
            seconds = time.perf_counter() - start
            share = foreign_cpu_share(jiffies, seconds)
            log(f"{name} repeat {r + 1}/{task.repeats}: {seconds:.3f} s (others used {share or 0:.0%} of the CPUs)")
            if seconds < timings[name].seconds:
                timings[name] = Timing(seconds, result, share)
    return timings


def binary_like(rows: int, cols: int, p: float, generator: torch.Generator) -> torch.Tensor:
    """A float32 (rows, cols) matrix of independent Bernoulli(p) entries, on the generator's device."""
    return (torch.rand(rows, cols, generator=generator, device=generator.device) < p).float()


def epoch_matmul_runner(W: torch.Tensor, data: torch.Tensor, batch: int, generator: torch.Generator) -> Callable:
    """One epoch of contrastive_step's three PCD-1 matmuls only, with its shapes, layouts and out= buffers (on W's
    device, which the generator's must be)."""
    W = W.detach().clone()
    n_visible, n_hidden = W.shape
    v_all = binary_like(2 * batch, n_visible, 0.2, generator)  # rows: data batch, then negative samples
    h_all = torch.rand(2 * batch, n_hidden, generator=generator, device=generator.device)
    chains = binary_like(batch, n_hidden, 0.5, generator)
    n_batches = len(data.split(batch))

    def run() -> None:
        for _ in range(n_batches):
            torch.mm(chains, W.T, out=v_all[batch:])  # negative visible logits
            torch.mm(v_all, W, out=h_all)  # p(h|v) of data and negatives together
            W.addmm_(v_all.T, h_all, alpha=1e-6)  # stacked gradient, accumulated into W as contrastive_step does

    return run


def ais_matmul_runner(W: torch.Tensor, n_runs: int, n_steps: int, generator: torch.Generator) -> Callable:
    """The two matmuls of each of `n_steps` AIS steps (v W and h W^T into preallocated buffers), nothing else (on
    W's device, which the generator's must be)."""
    W = W.detach()
    n_visible, n_hidden = W.shape
    v, h = binary_like(n_runs, n_visible, 0.2, generator), binary_like(n_runs, n_hidden, 0.5, generator)
    x, logits_v = torch.empty(n_runs, n_hidden, device=W.device), torch.empty(n_runs, n_visible, device=W.device)

    def run() -> None:
        for _ in range(n_steps):
            torch.mm(v, W, out=x)
            torch.mm(h, W.T, out=logits_v)

    return run


def workflow_rule_times(results: Path) -> dict[str, float]:
    """Seconds per rule from the Snakemake benchmark TSVs under results/**/benchmarks; the shallowest path wins."""
    times: dict[str, float] = {}
    for path in sorted(results.glob(f"**/{BENCHMARKS}/*.tsv"), key=lambda p: (len(p.parts), str(p))):
        with path.open(newline="") as f:
            seconds = [float(row["s"]) for row in csv.DictReader(f, delimiter="\t") if row.get("s") not in (None, "")]
        if seconds:
            times.setdefault(path.stem, min(seconds))
    return times


def cpu_jiffies() -> tuple[int, int]:
    """(busy jiffies of the whole machine, jiffies of this process) from /proc, or (0, 0) where there is none."""
    try:
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0, 0
    return sum(fields) - fields[3] - fields[4], int(own[11]) + int(own[12])  # all but idle and iowait; utime + stime


def foreign_cpu_share(start: tuple[int, int], wall_s: float) -> float | None:
    """Fraction of the machine's CPU time that other processes used since `start` (0: the run had it alone)."""
    end = cpu_jiffies()
    if not end[0] or wall_s <= 0:
        return None
    foreign = (end[0] - start[0]) - (end[1] - start[1])
    return max(0.0, foreign / os.sysconf("SC_CLK_TCK") / (wall_s * (os.cpu_count() or 1)))


def machine_info(device: torch.device = CPU) -> dict[str, Any]:
    """The device measured on (and a CUDA card's name), CPU count, torch threads and library versions of this run."""
    from importlib.metadata import PackageNotFoundError, version

    def pkg(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    cuda = device.type == "cuda"
    return {
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if cuda else None,
        "cuda_version": torch.version.cuda if cuda else None,
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
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
