"""Speed benchmark: our PCD-1 epoch and AIS against scikit-learn and `rbms`, and against their matmul-only bounds.

Usage: python bench/run.py [--quick]. Everything is measured in this one run on this machine (warm-up once, then
the minimum of several repeats, the same protocol for ours and the peers); the table is printed and the numbers
go to results/bench/bench.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
try:
    import binlatent  # noqa: F401
except ImportError:
    sys.path.insert(0, str(ROOT / "src"))

from harness import (  # noqa: E402
    ais_matmul_runner,
    best_of,
    epoch_matmul_runner,
    machine_info,
    workflow_rule_times,
    write_json_atomic,
)
from peers import rbms_ais, rbms_epoch_runner, sklearn_epoch_runner  # noqa: E402

from binlatent.ais import ais_log_z  # noqa: E402
from binlatent.rbm import RBM, PCDState, contrastive_step  # noqa: E402

SEED = 0
N_DATA, N_VISIBLE, N_HIDDEN, BATCH, LR = 10_000, 784, 500, 100, 0.01
AIS_RUNS = 100


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options: repeats per measurement, AIS length and the output path."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epoch-repeats", type=int, default=5, help="repeats of our and rbms' epoch and its bound")
    p.add_argument("--sklearn-repeats", type=int, default=3)
    p.add_argument("--ais-repeats", type=int, default=1, help="repeats of each AIS and its bound (after a warm-up)")
    p.add_argument("--ais-betas", type=int, default=10_000, help="AIS transitions: schedule [[1.0, n]]")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 repeat each, 300 AIS betas")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "bench.json")
    args = p.parse_args(argv)
    if args.quick:
        args.epoch_repeats = args.sklearn_repeats = args.ais_repeats = 1
        args.ais_betas = 300
    return args


def log(message: str) -> None:
    """Progress line on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def make_data(seed: int) -> torch.Tensor:
    """N_DATA x N_VISIBLE binary float32 data with MNIST-like sparse, uneven pixel marginals."""
    g = torch.Generator().manual_seed(seed)
    marginals = torch.rand(N_VISIBLE, generator=g) ** 3
    return (torch.rand(N_DATA, N_VISIBLE, generator=g) < marginals).float()


def our_epoch_runner(rbm: RBM, data: torch.Tensor, g: torch.Generator) -> Any:
    """One PCD-1 epoch of contrastive_step over the data in order, continuing the same chains each call."""
    state = PCDState(rbm, BATCH, g)
    batches = data.split(BATCH)

    def run() -> None:
        for batch in batches:
            contrastive_step(rbm, batch, state, k=1, persistent=True, lr=LR, momentum=0.0, weight_decay=0.0, generator=g)

    return run


def bench_epochs(data: torch.Tensor, args: argparse.Namespace) -> tuple[dict[str, float], RBM]:
    """Time the epoch of ours, its matmul bound, sklearn and rbms; return the times and our trained RBM."""
    g = torch.Generator().manual_seed(SEED)
    rbm = RBM(N_VISIBLE, N_HIDDEN, generator=g)
    W0, a0, b0 = (p.detach().clone() for p in (rbm.W, rbm.a, rbm.b))
    out = {}
    log("our PCD-1 epoch")
    out["rbm_epoch_s"], _ = best_of(our_epoch_runner(rbm, data, g), args.epoch_repeats)
    log("its matmul bound")
    out["rbm_matmul_bound_s"], _ = best_of(epoch_matmul_runner(W0, data, BATCH, g), args.epoch_repeats)
    log("sklearn BernoulliRBM epoch")
    out["sklearn_rbm_epoch_s"], _ = best_of(
        sklearn_epoch_runner(data.numpy(), N_HIDDEN, BATCH, LR, SEED), args.sklearn_repeats
    )
    log("rbms PCD-1 epoch")
    torch.manual_seed(SEED)  # rbms samples with the global generator
    out["rbms_epoch_s"], _ = best_of(rbms_epoch_runner(W0, a0, b0, data, BATCH, LR), args.epoch_repeats)
    return out, rbm


def bench_ais(rbm: RBM, data: torch.Tensor, args: argparse.Namespace) -> tuple[dict[str, float], dict[str, float]]:
    """Time our AIS, its matmul bound and rbms' AIS on the same weights; return the times and both log Z."""
    n, warm = args.ais_betas, min(200, args.ais_betas)
    W, a, b = (p.detach() for p in (rbm.W, rbm.a, rbm.b))

    def ours(steps: int) -> float:
        return ais_log_z(rbm, data, [[1.0, steps]], n_runs=AIS_RUNS, generator=torch.Generator().manual_seed(SEED)).log_z

    g = torch.Generator().manual_seed(SEED)
    out, log_z = {}, {}
    log(f"our AIS, {AIS_RUNS} runs x {n} betas")
    out["ais_s"], log_z["ours"] = best_of(lambda: ours(n), args.ais_repeats, warmup=lambda: ours(warm))
    log("its matmul bound")
    out["ais_matmul_bound_s"], _ = best_of(
        ais_matmul_runner(W, AIS_RUNS, n, g), args.ais_repeats, warmup=ais_matmul_runner(W, AIS_RUNS, warm, g)
    )
    log(f"rbms AIS, {AIS_RUNS} runs x {n} betas")
    torch.manual_seed(SEED)
    out["rbms_ais_s"], log_z["rbms"] = best_of(
        lambda: rbms_ais(W, a, b, AIS_RUNS, n), args.ais_repeats, warmup=lambda: rbms_ais(W, a, b, AIS_RUNS, warm)
    )
    return out, log_z


def ratios(t: dict[str, float]) -> dict[str, float]:
    """The ratios the targets are stated in."""
    return {
        "rbm_epoch_vs_sklearn": t["rbm_epoch_s"] / t["sklearn_rbm_epoch_s"],
        "rbm_epoch_vs_matmul_bound": t["rbm_epoch_s"] / t["rbm_matmul_bound_s"],
        "ais_vs_matmul_bound": t["ais_s"] / t["ais_matmul_bound_s"],
        "ais_vs_rbms": t["ais_s"] / t["rbms_ais_s"],
    }


def print_table(result: dict[str, Any]) -> None:
    """The timings, ratios (with the issue's targets) and log Z estimates as a plain-text table."""
    print(f"\n{'measurement':<24}{'seconds':>12}")
    for key in ("rbm_epoch_s", "rbm_matmul_bound_s", "sklearn_rbm_epoch_s", "rbms_epoch_s"):
        print(f"{key:<24}{result[key]:>12.3f}")
    for key in ("ais_s", "ais_matmul_bound_s", "rbms_ais_s"):
        print(f"{key:<24}{result[key]:>12.3f}")
    targets = {
        "rbm_epoch_vs_sklearn": "<= 1/1.3",
        "rbm_epoch_vs_matmul_bound": "<= 1.25",
        "ais_vs_matmul_bound": "<= 2",
        "ais_vs_rbms": "< 1",
    }
    print(f"\n{'ratio':<28}{'value':>8}  target")
    for key, value in result["ratios"].items():
        print(f"{key:<28}{value:>8.3f}  {targets[key]}")
    lz = result["log_z"]
    print(f"\nlog Z, same weights: ours {lz['ours']:.4f}   rbms {lz['rbms']:.4f}")
    for rule, seconds in result["workflow_rule_s"].items():
        print(f"workflow rule {rule:<20}{seconds:>10.1f} s")
    m = result["machine"]
    print(f"\n{m['cpu_count']} CPUs, {m['torch_threads']} torch threads, torch {m['torch_version']}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run every measurement, print the table and write the JSON."""
    args = parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    data = make_data(SEED)
    started = time.perf_counter()
    with torch.no_grad():
        epochs, rbm = bench_epochs(data, args)
        ais, log_z = bench_ais(rbm, data, args)
    result: dict[str, Any] = {**epochs, **ais}
    result["ratios"] = ratios(result)
    result["log_z"] = log_z
    result["workflow_rule_s"] = workflow_rule_times(ROOT / "results")
    result["machine"] = machine_info()
    result["config"] = {
        "seed": SEED,
        "data": [N_DATA, N_VISIBLE],
        "n_hidden": N_HIDDEN,
        "batch": BATCH,
        "lr": LR,
        "ais_runs": AIS_RUNS,
        "ais_betas": args.ais_betas,
        "repeats": {"epoch": args.epoch_repeats, "sklearn": args.sklearn_repeats, "ais": args.ais_repeats},
        "protocol": "one warm-up, then the minimum over repeats",
        "suite_wall_s": time.perf_counter() - started,
    }
    print_table(result)
    write_json_atomic(args.out, result)
    log(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
