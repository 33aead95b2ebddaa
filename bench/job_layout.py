"""Two fine-tuning jobs on this machine's cores: one after the other on 2 threads each, or side by side on 1.

Usage: python bench/job_layout.py [--epochs N]. Each job runs N fine-tuning epochs of the default hybrid
(bench/stage_bounds.py); the wall time of both jobs under each layout decides config['resources']['finetune'].
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time

from stage_bounds import stage_tasks


def job(threads: int, epochs: int, seed: int) -> float:
    """One fine-tuning job of `epochs` epochs on `threads` threads (after a warm-up); its seconds."""
    work = stage_tasks(seed, threads)["finetune_epoch"]
    work.warmup()
    start = time.perf_counter()
    for _ in range(epochs):
        work.fn()
    return time.perf_counter() - start


def side_by_side(epochs: int) -> float:
    """Seconds until both of two 1-thread jobs, started together in two processes, have run their epochs (the
    longer job's own loop: process start-up and warm-up are left out, as they are from the jobs in turn)."""
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        return max(pool.starmap(job, [(1, epochs, 0), (1, epochs, 1)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    epochs = parser.parse_args().epochs
    one_after_other = job(2, epochs, 0) + job(2, epochs, 1)
    both = side_by_side(epochs)
    print(json.dumps({"epochs_per_job": epochs, "two_jobs_on_2_threads_in_turn_s": one_after_other,
                      "two_jobs_on_1_thread_side_by_side_s": both}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
