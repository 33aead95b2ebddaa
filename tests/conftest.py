"""Shared fixtures: seeded generators and small RBMs whose exact quantities can be enumerated."""

from __future__ import annotations

import pytest
import torch
from helpers import snakemake

from binlatent.rbm import RBM


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """One uninterrupted run of configs/smoke.yaml through the real snakemake command; its output folder."""
    out = tmp_path_factory.mktemp("smoke")
    result = snakemake("--cores", "2", "--configfile", "configs/smoke.yaml", "--config", f"outdir={out}", timeout=900)
    assert result.returncode == 0, result.stderr[-5000:]
    return out


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture(params=[1, 2], ids=["serial", "two-parts"])
def cpu_parts(request, monkeypatch) -> int:
    """Torch CPU threads, with row-split parts used even for tiny RBMs: 1 (serial path) or 2."""
    import binlatent.parallel

    monkeypatch.setattr(binlatent.parallel, "MIN_PART_WORK", 0)
    threads = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(threads)


def random_rbm(n_visible: int, n_hidden: int, scale: float, seed: int) -> RBM:
    """An RBM with N(0, scale^2) weights and N(0, 1) biases."""
    g = torch.Generator().manual_seed(seed)
    rbm = RBM(n_visible, n_hidden)
    with torch.no_grad():
        rbm.W.copy_(torch.randn(n_visible, n_hidden, generator=g) * scale)
        rbm.a.copy_(torch.randn(n_visible, generator=g))
        rbm.b.copy_(torch.randn(n_hidden, generator=g))
    return rbm


def brute_force_log_z(rbm: RBM) -> float:
    """log Z summing the energy over every joint (v, h) state: independent of the free-energy code."""
    from binlatent.enumeration import all_binary_states

    v = all_binary_states(rbm.n_visible, 0, 2**rbm.n_visible)
    h = all_binary_states(rbm.n_hidden, 0, 2**rbm.n_hidden)
    W, a, b = (p.detach().double() for p in (rbm.W, rbm.a, rbm.b))
    neg_energy = (v @ a)[:, None] + (h @ b)[None, :] + v @ W @ h.T
    return float(torch.logsumexp(neg_energy.flatten(), 0))
