"""Row-split parallelism on the CPU: one single-threaded stream of torch operations per core.

Torch's intra-op threads meet at a barrier after every operation, and an idle one spins a few milliseconds
and then sleeps (binlatent/__init__.py), so a parallel operation that follows a long serial stretch pays
for waking them. Long loops of many modest operations on independent rows (the AIS runs) instead
run as `parts` Python threads with one torch thread each: torch's kernels and numpy's random fills
release the GIL, so the parts run on separate cores and only meet when the caller collects them.
Each part must touch only its own rows (and its own random stream), which keeps the results
independent of timing. A PCD step is too short for this: two hand-offs per step cost more than its
elementwise work, so it stays on torch's intra-op threads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

import torch

T = TypeVar("T")

# Below this many multiply-adds per part and operation, handing work to another thread costs more than it saves.
MIN_PART_WORK = 2_000_000

_pool: ThreadPoolExecutor | None = None


def n_parts(device: torch.device, rows: int, work_per_row: int) -> int:
    """How many streams to split `rows` rows over: torch's CPU thread count when each part gets enough work, else 1."""
    if device.type != "cpu":
        return 1
    parts = torch.get_num_threads()
    while parts > 1 and (rows < parts or rows // parts * work_per_row < MIN_PART_WORK):
        parts -= 1
    return parts


def split(n: int, parts: int) -> list[slice]:
    """`parts` contiguous slices of range(n) whose lengths differ by at most one."""
    bounds = [n * i // parts for i in range(parts + 1)]
    return [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def run_parts(fn: Callable[[int], T], parts: int) -> list[T]:
    """[fn(0), ..., fn(parts - 1)] run concurrently, one torch thread each; part 0 runs on the calling thread."""
    if parts == 1:
        return [fn(0)]
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="binlatent-part")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # process-wide for torch and MKL; each worker also sets its own OpenMP count
    futures = []
    try:
        futures = [_pool.submit(_single_threaded, fn, i) for i in range(1, parts)]
        first = fn(0)
        return [first, *(f.result() for f in futures)]
    finally:
        wait(futures)
        torch.set_num_threads(threads)


def _single_threaded(fn: Callable[[int], T], i: int) -> T:
    """fn(i) on a pool thread, whose own OpenMP thread count is set first (a new thread starts at the default)."""
    torch.set_num_threads(1)
    return fn(i)
