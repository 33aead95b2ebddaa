"""Speed benchmark: our PCD-1 epoch and AIS against scikit-learn and `rbms`, and against their matmul-only bounds.

Usage: python bench/run.py [--quick]. Everything is measured in this one run on this machine with one protocol for
ours, the bounds and the peers: one warm-up each, then interleaved repeats of which the fastest is kept. The table
is printed and the numbers go to results/bench/bench.json, with the CPU share other processes took meanwhile.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
try:
    import binlatent  # noqa: F401
except ImportError:
    sys.path.insert(0, str(ROOT / "src"))

from harness import (  # noqa: E402
    Task,
    Timing,
    ais_matmul_runner,
    cpu_jiffies,
    epoch_matmul_runner,
    foreign_cpu_share,
    machine_info,
    round_robin,
    workflow_rule_times,
    write_json_atomic,
)
from peers import rbms_ais, rbms_epoch_runner, sklearn_epoch_runner  # noqa: E402
from stage_bounds import matmul_replay_runner, on_threads, recorded_products, stage_tasks  # noqa: E402

from binlatent.ais import ais_log_z  # noqa: E402
from binlatent.paths import Layout  # noqa: E402
from binlatent.rbm import RBM, PCDState, contrastive_step  # noqa: E402

SEED = 0
STAGE_KEYS = ("stage1_epoch_s", "stage1_epoch_matmul_bound_s", "finetune_epoch_s", "finetune_epoch_matmul_bound_s",
              "finetune_valid_s", "evaluate_s", "evaluate_matmul_bound_s")  # fmt: skip
N_DATA, N_VISIBLE, N_HIDDEN, BATCH, LR = 10_000, 784, 500, 100, 0.01
AIS_RUNS = 100


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options: repeats per measurement, AIS length and the output path."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epoch-repeats", type=int, default=5, help="repeats of our and rbms' epoch and its bound")
    p.add_argument("--sklearn-repeats", type=int, default=3)
    p.add_argument("--ais-repeats", type=int, default=1, help="repeats of each AIS and its bound (after a warm-up)")
    p.add_argument("--ais-betas", type=int, default=10_000, help="AIS transitions: schedule [[1.0, n]]")
    p.add_argument("--stage-repeats", type=int, default=3, help="repeats of each stage epoch and its bound")
    p.add_argument("--evaluate-repeats", type=int, default=1, help="repeats of the hybrid's evaluation and its bound")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 repeat each, 300 AIS betas")
    p.add_argument("--out", type=Path, default=Path(Layout(str(ROOT / "results")).bench()))
    args = p.parse_args(argv)
    if args.quick:
        args.epoch_repeats = args.sklearn_repeats = args.ais_repeats = args.stage_repeats = 1
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


def our_epoch_runner(rbm: RBM, data: torch.Tensor, g: torch.Generator) -> Callable[[], None]:
    """One PCD-1 epoch of contrastive_step over the data in order, continuing the same chains each call."""
    state = PCDState(rbm, BATCH, g)
    batches = data.split(BATCH)

    def run() -> None:
        for batch in batches:
            contrastive_step(
                rbm, batch, state, k=1, persistent=True, lr=LR, momentum=0.0, weight_decay=0.0, generator=g
            )

    return run


def bench_epochs(data: torch.Tensor, args: argparse.Namespace) -> tuple[dict[str, Timing], RBM]:
    """Time the epoch of ours, its matmul bound, sklearn and rbms; return the timings and our trained RBM."""
    g = torch.Generator().manual_seed(SEED)
    rbm = RBM(N_VISIBLE, N_HIDDEN, generator=g)
    W0, a0, b0 = (p.detach().clone() for p in (rbm.W, rbm.a, rbm.b))
    torch.manual_seed(SEED)  # rbms samples with the global generator
    tasks = {
        "rbm_epoch_s": Task(our_epoch_runner(rbm, data, g), args.epoch_repeats),
        "rbm_matmul_bound_s": Task(epoch_matmul_runner(W0, data, BATCH, g), args.epoch_repeats),
        "sklearn_rbm_epoch_s": Task(
            sklearn_epoch_runner(data.numpy(), N_HIDDEN, BATCH, LR, SEED), args.sklearn_repeats
        ),
        "rbms_epoch_s": Task(rbms_epoch_runner(W0, a0, b0, data, BATCH, LR), args.epoch_repeats),
    }
    return round_robin(tasks, log), rbm


def bench_ais(rbm: RBM, data: torch.Tensor, args: argparse.Namespace) -> dict[str, Timing]:
    """Time our AIS (result: its log Z), its matmul bound and rbms' AIS (its log Z) on the same weights."""
    n, warm = args.ais_betas, min(200, args.ais_betas)
    W, a, b = (p.detach() for p in (rbm.W, rbm.a, rbm.b))

    def ours(steps: int) -> float:
        g = torch.Generator().manual_seed(SEED)
        return ais_log_z(rbm, data, [[1.0, steps]], n_runs=AIS_RUNS, generator=g).log_z

    def peer(steps: int) -> float:
        torch.manual_seed(SEED)
        return rbms_ais(W, a, b, AIS_RUNS, steps)

    g = torch.Generator().manual_seed(SEED)
    log(f"AIS: {AIS_RUNS} runs x {n} betas")
    tasks = {
        "ais_s": Task(lambda: ours(n), args.ais_repeats, lambda: ours(warm)),
        "ais_matmul_bound_s": Task(
            ais_matmul_runner(W, AIS_RUNS, n, g), args.ais_repeats, ais_matmul_runner(W, AIS_RUNS, warm, g)
        ),
        "rbms_ais_s": Task(lambda: peer(n), args.ais_repeats, lambda: peer(warm)),
    }
    return round_robin(tasks, log)


def bench_stages(args: argparse.Namespace) -> dict[str, Timing]:
    """Time each workflow stage's work on the default sizes and the replay of its recorded matrix products."""
    tasks: dict[str, Task] = {}
    for name, work in stage_tasks(SEED).items():
        log(f"{name}: recording its matrix products")
        bound = on_threads(work.threads, matmul_replay_runner(recorded_products(work.fn)))
        repeats = args.evaluate_repeats if name == "evaluate" else args.stage_repeats
        tasks[f"{name}_s"] = Task(work.fn, repeats, work.warmup)
        if name != "finetune_valid":  # the validation score is measured on its own: no target against a bound
            tasks[f"{name}_matmul_bound_s"] = Task(bound, repeats)
    return round_robin(tasks, log)


def ratios(t: dict[str, float]) -> dict[str, float]:
    """The ratios the targets are stated in."""
    return {
        "rbm_epoch_vs_sklearn": t["rbm_epoch_s"] / t["sklearn_rbm_epoch_s"],
        "rbm_epoch_vs_matmul_bound": t["rbm_epoch_s"] / t["rbm_matmul_bound_s"],
        "ais_vs_matmul_bound": t["ais_s"] / t["ais_matmul_bound_s"],
        "ais_vs_rbms": t["ais_s"] / t["rbms_ais_s"],
        "stage1_epoch_vs_matmul_bound": t["stage1_epoch_s"] / t["stage1_epoch_matmul_bound_s"],
        "finetune_epoch_vs_matmul_bound": t["finetune_epoch_s"] / t["finetune_epoch_matmul_bound_s"],
        "evaluate_vs_matmul_bound": t["evaluate_s"] / t["evaluate_matmul_bound_s"],
    }


def print_table(result: dict[str, Any]) -> None:
    """The timings, ratios (with the issue's targets) and log Z estimates as a plain-text table."""
    share = result["contention"]["foreign_cpu_share"]
    print(f"\n{'measurement':<32}{'seconds':>12}  CPU taken by other processes meanwhile")
    for key in ("rbm_epoch_s", "rbm_matmul_bound_s", "sklearn_rbm_epoch_s", "rbms_epoch_s"):
        print(f"{key:<32}{result[key]:>12.3f}  {share[key] or 0:.0%}")
    for key in ("ais_s", "ais_matmul_bound_s", "rbms_ais_s", *STAGE_KEYS):
        print(f"{key:<32}{result[key]:>12.3f}  {share[key] or 0:.0%}")
    targets = {
        "rbm_epoch_vs_sklearn": "<= 1/1.3",
        "rbm_epoch_vs_matmul_bound": "<= 1.25",
        "ais_vs_matmul_bound": "<= 2",
        "ais_vs_rbms": "< 1",
        "stage1_epoch_vs_matmul_bound": "-",
        "finetune_epoch_vs_matmul_bound": "<= 2",
        "evaluate_vs_matmul_bound": "<= 2",
    }
    print(f"\n{'ratio':<32}{'value':>8}  target")
    for key, value in result["ratios"].items():
        print(f"{key:<32}{value:>8.3f}  {targets[key]}")
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
    started, jiffies = time.perf_counter(), cpu_jiffies()
    with torch.no_grad():
        epochs, rbm = bench_epochs(data, args)
        ais = bench_ais(rbm, data, args)
    stages = bench_stages(args)
    timings = {**epochs, **ais, **stages}
    result: dict[str, Any] = {key: t.seconds for key, t in timings.items()}
    result["ratios"] = ratios(result)
    result["log_z"] = {"ours": timings["ais_s"].result, "rbms": timings["rbms_ais_s"].result}
    result["workflow_rule_s"] = workflow_rule_times(ROOT / "results")
    wall = time.perf_counter() - started
    result["machine"] = machine_info()
    result["contention"] = {
        "foreign_cpu_share": {key: t.foreign_cpu_share for key, t in timings.items()},
        "foreign_cpu_share_whole_run": foreign_cpu_share(jiffies, wall),
        "note": "share of all CPUs used by other processes during each kept (fastest) repeat; 0 = machine to itself",
    }
    result["config"] = {
        "seed": SEED,
        "data": [N_DATA, N_VISIBLE],
        "n_hidden": N_HIDDEN,
        "batch": BATCH,
        "lr": LR,
        "ais_runs": AIS_RUNS,
        "ais_betas": args.ais_betas,
        "repeats": {"epoch": args.epoch_repeats, "sklearn": args.sklearn_repeats, "ais": args.ais_repeats},
        "protocol": "one warm-up each, then interleaved repeats; the minimum is kept",
        "peers": {
            "sklearn": "sklearn.neural_network.BernoulliRBM(n_components, batch_size, n_iter=1, learning_rate).fit",
            "rbms_model": "rbms.bernoulli_bernoulli.BBRBM(weight_matrix=W, vbias=a, hbias=b)",
            "rbms_epoch": "rbms.training.pcd.fit_batch_pcd(gibbs_steps=1, centered=False) + torch.optim.SGD(maximize)",
            "rbms_ais": "rbms.partition_function.ais.compute_partition_function_ais(num_chains, num_beta=betas + 1)",
        },
        "suite_wall_s": wall,
    }
    print_table(result)
    write_json_atomic(args.out, result)
    log(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
