"""Row-split parts on CPU threads: slicing, thread-count handling, determinism and agreement with exact values."""

from __future__ import annotations

import threading

import pytest
import torch
from conftest import random_rbm

from binlatent.ais import ais_log_z
from binlatent.contrastive import PCDState, contrastive_step
from binlatent.enumeration import exact_log_z
from binlatent.parallel import n_parts, run_parts, split


def test_split_covers_the_range_in_near_equal_contiguous_slices():
    for n, parts in [(10, 3), (100, 2), (5, 5), (7, 1)]:
        slices = split(n, parts)
        sizes = [s.stop - s.start for s in slices]
        assert slices[0].start == 0 and slices[-1].stop == n
        assert all(a.stop == b.start for a, b in zip(slices[:-1], slices[1:], strict=True))
        assert max(sizes) - min(sizes) <= 1


def test_n_parts_needs_cpu_threads_rows_and_work():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert n_parts(torch.device("cpu"), 100, 784 * 500) == 2
        assert n_parts(torch.device("cpu"), 1, 784 * 500) == 1  # one row cannot be split
        assert n_parts(torch.device("cpu"), 100, 10) == 1  # too little work per part
        assert n_parts(torch.device("meta"), 100, 784 * 500) == 1  # only the CPU is split
        torch.set_num_threads(1)
        assert n_parts(torch.device("cpu"), 100, 784 * 500) == 1
    finally:
        torch.set_num_threads(threads)


def test_run_parts_runs_each_part_on_its_own_thread_with_one_torch_thread_and_restores_the_count():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        seen = run_parts(lambda i: (i, threading.get_ident(), torch.get_num_threads()), 2)
        assert [s[0] for s in seen] == [0, 1]
        assert seen[0][1] == threading.get_ident() != seen[1][1]
        assert [s[2] for s in seen] == [1, 1]
        assert torch.get_num_threads() == 2

        def fail(i: int) -> None:
            raise RuntimeError(f"part {i}")

        with pytest.raises(RuntimeError, match="part 0"):
            run_parts(fail, 2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_ais_is_reproducible_and_agrees_with_exact_log_z(cpu_parts):
    rbm = random_rbm(20, 12, 0.5, seed=240)
    data = (torch.rand(500, 20, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    schedule = [[0.5, 500], [0.9, 2000], [1.0, 3000]]
    runs = [ais_log_z(rbm, data, schedule, n_runs=100, generator=torch.Generator().manual_seed(7)) for _ in range(2)]
    assert runs[0].log_weights.tolist() == runs[1].log_weights.tolist()
    assert runs[0].trace_log_weights.tolist() == runs[1].trace_log_weights.tolist()
    assert runs[0].trace_log_weights[-1].tolist() == runs[0].log_weights.tolist()
    assert runs[0].log_z_low <= exact_log_z(rbm) <= runs[0].log_z_high


def test_contrastive_step_is_reproducible(cpu_parts):
    def train() -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(3)
        rbm = random_rbm(9, 7, 0.5, seed=9)
        data = (torch.rand(400, 9, generator=g) < 0.3).float()
        state = PCDState(rbm, 40, g)
        for persistent in (False, True):
            for batch in data.split(40):
                contrastive_step(
                    rbm, batch, state, 2, persistent, lr=0.05, momentum=0.5, weight_decay=1e-3, generator=g
                )
        return [rbm.W.detach(), rbm.a.detach(), rbm.b.detach(), state.chains, state.velocity_W]

    for first, second in zip(train(), train(), strict=True):
        assert torch.equal(first, second)
