"""Evaluation at any K within a memory budget (binlatent.importance): the codes of an image go in pieces where they
would hold more than the budget, the estimates carried from piece to piece are the same estimators, and the peak
memory no longer grows with K. Below the budget the codes are drawn at once, with the same random numbers as
before."""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from helpers import SMALL_NETWORK

from binlatent import importance
from binlatent.estimators import draw_by_weight, iwae_bound
from binlatent.image import ImageFormat
from binlatent.models import build_model, model_arguments
from binlatent.variants import ModelSpec

IMAGE = ImageFormat((4, 4), "binary")


def tiny_hybrid(n_latent: int, seed: int = 0):
    """A hybrid of 4x4 binary images with an RBM prior of n_latent units, at its initial weights."""
    torch.manual_seed(seed)
    network = {**SMALL_NETWORK, "n_latent": n_latent, "hidden": [16]}
    model = build_model(
        model_arguments(ModelSpec("hybrid", "rbm", True, True, "vimco", 3, 4, 1e-3, network=network), IMAGE)
    )
    return model.eval()


def enumerated(model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every code z (2^n, n), and log p(x|z) + log p*(z) for each image of x and code: (batch, 2^n)."""
    n = model.spec.network["n_latent"]
    codes = torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)))
    with torch.no_grad():
        joint = model.decoder.log_prob(x, codes.expand(len(x), -1, -1)) + model.prior.unnormalised_log_prob(codes)
    return codes, joint.double()


@pytest.fixture
def small_budget(monkeypatch):
    """A budget of 64 codes of the tiny models at a time."""
    model = tiny_hybrid(3)
    monkeypatch.setattr(importance, "MEMORY_BUDGET", 64 * importance.code_bytes(model))
    return 64


def test_pieces_cut_at_every_bound_and_at_the_budget():
    assert list(importance.pieces([10], 4)) == [(0, 4), (4, 4), (8, 2)]
    assert list(importance.pieces([5, 20], 8)) == [(0, 5), (5, 8), (13, 7)]
    assert list(importance.pieces([3, 12], 100)) == [(0, 3), (3, 9)]


def test_below_the_budget_the_codes_are_drawn_at_once_with_the_same_random_numbers_as_before(generator):
    model, x = tiny_hybrid(5), (torch.rand(7, 16, generator=generator) < 0.5).float()
    k, sizes, chains = 50, [50, 200], 3
    assert importance.codes_per_piece(model, len(x)) >= 200
    ours = [torch.Generator().manual_seed(1) for _ in range(2)]
    bounds, drawn = importance.weights_and_draws(model, x, sizes, chains, ours[0])
    with torch.no_grad():  # the code this replaced, inline
        z, log_q = model.encoder.sample(x, 200, ours[1])
        log_prior, _, top = model.prior.importance_log_prob(z, ours[1])
        log_w = (model.decoder.log_prob(x, z) + log_prior - log_q).double()
        for i, n in enumerate(sizes):
            assert torch.equal(bounds[i], iwae_bound(log_w[:, :n]))
            assert torch.equal(drawn[i], draw_by_weight(log_w[:, :n], top[:, :n], chains, ours[1]))
    plain = importance.log_mean_weight(model, x, k, torch.Generator().manual_seed(2))
    again = iwae_bound(model.log_weights(x, k, torch.Generator().manual_seed(2))[0].double())
    assert torch.equal(plain, again)


def test_codes_in_pieces_estimate_the_same_likelihood_as_codes_at_once(small_budget, generator):
    model, x = tiny_hybrid(3), (torch.rand(4, 16, generator=generator) < 0.5).float()
    exact = torch.logsumexp(enumerated(model, x)[1], 1)  # log p*(x), summed over the 8 codes
    k = 20_000
    assert importance.codes_per_piece(model, len(x)) < k  # in pieces
    streamed = importance.log_mean_weight(model, x, k, generator)
    torch.testing.assert_close(streamed, exact, atol=0.03, rtol=0)
    bounds, _ = importance.weights_and_draws(model, x, [k // 4, k], 1, generator)
    torch.testing.assert_close(bounds, exact.expand(2, -1), atol=0.05, rtol=0)


def test_draws_carried_from_piece_to_piece_follow_the_weights_of_all_the_codes(monkeypatch):
    """Each piece's own draw replaces the draw so far with the piece's share of the weights so far: a draw is then
    any one of the codes with probability w_k / sum w_k, as if all had been drawn at once."""
    log_w = torch.tensor([[0.0, 1.0, -2.0, 0.5, 2.0, -1.0, 0.0, 1.5, -0.5, 0.3, -3.0, 1.0]], dtype=torch.float64)
    served = []

    def weighed_codes(model, x, k, generator=None):  # the codes 0, 1, 2, ... in order, with their log weights
        start = sum(served)
        served.append(k)
        return log_w[:, start : start + k], torch.arange(start, start + k, dtype=torch.float32).view(1, k, 1)

    monkeypatch.setattr(importance, "_weighed_codes", weighed_codes)
    monkeypatch.setattr(importance, "codes_per_piece", lambda model, n_images: 5)
    chains, sizes = 40_000, [4, 12]
    bounds, drawn = importance.weights_and_draws(
        None, torch.zeros(1, 1), sizes, chains, torch.Generator().manual_seed(0)
    )
    assert served == [4, 5, 3]  # cut at 4 (the first estimate's codes) and at the budget
    for i, n in enumerate(sizes):
        torch.testing.assert_close(bounds[i, 0], torch.logsumexp(log_w[0, :n], 0) - math.log(n))
        expected = torch.softmax(log_w[0, :n], 0)
        frequency = torch.bincount(drawn[i, 0, :, 0].long(), minlength=n).double() / chains
        assert (frequency - expected).abs().max() < 4 * math.sqrt(0.25 / chains), (frequency, expected)


def test_the_model_scores_in_pieces_through_log_likelihood_and_raise(small_budget, generator, caplog):
    model, x = tiny_hybrid(3), (torch.rand(3, 16, generator=generator) < 0.5).float()
    exact = torch.logsumexp(enumerated(model, x)[1], 1).numpy()
    conservative = {"K": 1000, "chains": 2, "schedule": [[1.0, 50]]}
    with caplog.at_level("INFO", logger="binlatent"):
        result = model.log_likelihood(x, K=4000, ais={"runs": 20, "schedule": [[1.0, 50]]}, conservative=conservative,
                                      generator=generator)  # fmt: skip
    assert abs(result.unnormalised - exact).max() < 0.1
    assert set(result.conservative) == {"", "_4K"} and all(abs(v).max() < 1e4 for v in result.conservative.values())
    assert re.search(
        r"RAISE's importance sampling: 4,000 codes per image, drawn \d+ at a time to stay within", caplog.text
    )


# The peak memory, measured in a fresh process: the high-water mark of its resident memory (VmHWM, reset through
# /proc/self/clear_refs before each measurement), with allocations of 64 KiB and more mapped and unmapped one by one
# (MALLOC_MMAP_THRESHOLD_) so that the mark follows the tensors alive rather than what the C heap keeps.
MEASURE = textwrap.dedent(
    """
    import json, sys, torch
    torch.set_num_threads(1)
    from binlatent import importance
    from binlatent.models import build_model, model_arguments
    from binlatent.image import ImageFormat
    from binlatent.variants import ModelSpec

    def peak():
        return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) * 1024

    def model(kind):
        if kind == "autoregressive":
            image = ImageFormat((8, 8, 3), "8bit")
            net = {"kind": "conv", "n_latent": 16, "channels": [8, 16], "res_blocks": 0, "mixture": 5,
                   "decoder": "autoregressive", "pixelcnn": {"layers": 2, "channels": 16, "kernel": 3, "border": False}}
            x = torch.randint(0, 256, (1, 192), generator=torch.Generator().manual_seed(0)).float()
        else:
            image, x = ImageFormat((4, 4), "binary"), (torch.rand(1, 16) < 0.5).float()
            net = {"kind": "mlp", "n_latent": 100 if kind != "tiny" else 12, "hidden": [16], "activation": "tanh",
                   "decoder": "mirrored"}
        prior = "gaussian" if kind == "gaussian" else "rbm"
        upper = (100,) if kind == "deep" else ()
        hidden = 0 if prior == "gaussian" else 12 if kind == "tiny" else 100
        spec = ModelSpec("m", prior, prior == "rbm", prior == "rbm", "vimco", 3, hidden, 1e-3, prior_upper=upper,
                         network=net)
        return build_model(model_arguments(spec, image)), x

    out = {}
    for name, kind, k, budget in json.loads(sys.argv[1]):
        importance.MEMORY_BUDGET = budget
        m, x = model(kind)
        with torch.no_grad():
            m.unnormalised_log_likelihood(x, 10)  # warm up
            open("/proc/self/clear_refs", "w").write("5")
            start = peak()
            m.unnormalised_log_likelihood(x, k)
            out[name] = {"bytes": peak() - start, "per_code": importance.code_bytes(m)}
    print(json.dumps(out))
    """
)


def measured(cases: list[tuple[str, str, int, int]]) -> dict[str, dict[str, int]]:
    """{name: the measured peak bytes, and code_bytes} for each case (name, model kind, K, budget)."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("measuring the peak memory needs Linux's /proc/self/clear_refs")
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, json.dumps(cases)],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


NO_BUDGET = 1 << 40


def test_the_memory_estimate_is_within_a_factor_of_the_measured_peak():
    """code_bytes against the peak of scoring one image's K codes at once, for every kind of model: the estimate is
    not below it and at most 2.5 times it (the C heap can hold about twice what is alive)."""
    cases = [
        ("rbm prior", "rbm", 100_000, NO_BUDGET),
        ("deep prior", "deep", 100_000, NO_BUDGET),
        ("gaussian", "gaussian", 100_000, NO_BUDGET),
        ("autoregressive", "autoregressive", 3000, NO_BUDGET),
    ]
    for (name, _, k, _), found in zip(cases, measured(cases).values(), strict=True):
        estimate = found["per_code"] * k
        assert found["bytes"] <= estimate <= 2.5 * found["bytes"], (name, found)


def test_the_peak_memory_stops_growing_with_k_at_the_budget():
    budget = 8 * 2**20
    found = measured([("small K", "tiny", 100_000, budget), ("large K", "tiny", 1_000_000, budget),
                      ("large K at once", "tiny", 1_000_000, NO_BUDGET)])  # fmt: skip
    small, large, at_once = (found[name]["bytes"] for name in ("small K", "large K", "large K at once"))
    assert large <= 1.5 * budget and large <= small + 2**20  # 10 times the codes, the same peak within 1 MB
    assert at_once > 10 * budget  # what the same K held before
