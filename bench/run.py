"""Speed benchmark: our PCD-1 epoch and AIS against scikit-learn and `rbms`, and against their matmul-only bounds.

Usage: python bench/run.py [--quick] [--device cpu|cuda|auto] [--parts rbm stages decoder]. Everything is measured
in this one run on this machine with one protocol for ours, the bounds and the peers: one warm-up each, then
interleaved repeats of which the fastest is kept. Ours, the bounds and the stages run on --device (the clock is read
once the device is idle); the peers run on the CPU, and `rbms` is skipped where it is not installed. The
autoregressive decoder's rows (decoder_bounds.py) also give milliseconds per (image, code) pair. The table is printed
and the numbers go to results/bench/bench.json, with the device and the CPU share other processes took meanwhile.
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

from decoder_bounds import decoder_tasks, per_pair_ms  # noqa: E402
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
from peers import DEVICE as PEER_DEVICE  # noqa: E402
from peers import rbms_ais, rbms_epoch_runner, rbms_import_error, sklearn_epoch_runner  # noqa: E402
from stage_bounds import matmul_replay_runner, on_threads, recorded_products, stage_tasks  # noqa: E402

from binlatent.ais import ais_log_z  # noqa: E402
from binlatent.contrastive import PCDState, contrastive_step  # noqa: E402
from binlatent.paths import Layout  # noqa: E402
from binlatent.rbm import RBM  # noqa: E402
from binlatent.training import select_device  # noqa: E402

SEED = 0
MEASUREMENTS = ("rbm_epoch_s", "rbm_matmul_bound_s", "sklearn_rbm_epoch_s", "rbms_epoch_s",
                "ais_s", "ais_matmul_bound_s", "rbms_ais_s",
                "stage1_epoch_s", "stage1_epoch_matmul_bound_s", "finetune_epoch_s", "finetune_epoch_matmul_bound_s",
                "finetune_valid_s", "evaluate_s", "evaluate_matmul_bound_s",
                "pixelcnn_digits_step_s", "pixelcnn_digits_step_matmul_bound_s",
                "pixelcnn_digits_score_s", "pixelcnn_digits_score_matmul_bound_s",
                "pixelcnn_patches_step_s", "pixelcnn_patches_step_matmul_bound_s",
                "pixelcnn_patches_score_s", "pixelcnn_patches_score_matmul_bound_s")  # fmt: skip
PEER_KEYS = frozenset({"sklearn_rbm_epoch_s", "rbms_epoch_s", "rbms_ais_s"})  # measured on PEER_DEVICE
RATIOS = {  # name: (numerator, denominator, target)
    "rbm_epoch_vs_sklearn": ("rbm_epoch_s", "sklearn_rbm_epoch_s", "<= 1/1.3"),
    "rbm_epoch_vs_matmul_bound": ("rbm_epoch_s", "rbm_matmul_bound_s", "<= 1.25"),
    "ais_vs_matmul_bound": ("ais_s", "ais_matmul_bound_s", "<= 2"),
    "ais_vs_rbms": ("ais_s", "rbms_ais_s", "< 1"),
    "stage1_epoch_vs_matmul_bound": ("stage1_epoch_s", "stage1_epoch_matmul_bound_s", "-"),
    "finetune_epoch_vs_matmul_bound": ("finetune_epoch_s", "finetune_epoch_matmul_bound_s", "<= 2"),
    "evaluate_vs_matmul_bound": ("evaluate_s", "evaluate_matmul_bound_s", "<= 2"),
    **{f"pixelcnn_{size}_{task}_vs_matmul_bound": (f"pixelcnn_{size}_{task}_s",
                                                   f"pixelcnn_{size}_{task}_matmul_bound_s", "<= 2")
       for size in ("digits", "patches") for task in ("step", "score")},
}  # fmt: skip
PARTS = ("rbm", "stages", "decoder")  # the RBM's epoch and AIS against the peers; the workflow's stages; the PixelCNN
N_DATA, N_VISIBLE, N_HIDDEN, BATCH, LR = 10_000, 784, 500, 100, 0.01
AIS_RUNS = 100


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options: repeats per measurement, AIS length, the device and the output path."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epoch-repeats", type=int, default=5, help="repeats of our and rbms' epoch and its bound")
    p.add_argument("--sklearn-repeats", type=int, default=3)
    p.add_argument("--ais-repeats", type=int, default=1, help="repeats of each AIS and its bound (after a warm-up)")
    p.add_argument("--ais-betas", type=int, default=10_000, help="AIS transitions: schedule [[1.0, n]]")
    p.add_argument("--stage-repeats", type=int, default=3, help="repeats of each stage epoch and its bound")
    p.add_argument("--evaluate-repeats", type=int, default=1, help="repeats of the hybrid's evaluation and its bound")
    p.add_argument("--decoder-repeats", type=int, default=3, help="repeats of each PixelCNN task and its bound")
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="what to measure (default: all)")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 repeat each, 300 AIS betas")
    where = "where ours, the bounds and the stages run (auto: CUDA if available); the peers use the CPU"
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu", help=where)
    p.add_argument("--out", type=Path, default=Path(Layout(str(ROOT / "results")).bench()))
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error(f"--device cuda: no CUDA device is available to torch {torch.__version__} on this machine; "
                "use --device cpu or auto")  # fmt: skip
    args.device = select_device(args.device)
    if args.quick:
        args.epoch_repeats = args.sklearn_repeats = args.ais_repeats = args.stage_repeats = args.decoder_repeats = 1
        args.ais_betas = 300
    return args


def log(message: str) -> None:
    """Progress line on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def make_data(seed: int, device: torch.device) -> torch.Tensor:
    """N_DATA x N_VISIBLE binary float32 data on `device` with MNIST-like sparse, uneven pixel marginals."""
    g = torch.Generator(device).manual_seed(seed)
    marginals = torch.rand(N_VISIBLE, generator=g, device=device) ** 3
    return (torch.rand(N_DATA, N_VISIBLE, generator=g, device=device) < marginals).float()


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


def bench_epochs(data: torch.Tensor, args: argparse.Namespace, with_rbms: bool) -> tuple[dict[str, Timing], RBM]:
    """Time the epoch of ours, its matmul bound, sklearn and rbms (where installed); return the timings and our
    trained RBM. Its weights are drawn on the CPU, so every device starts from the same RBM."""
    rbm = RBM(N_VISIBLE, N_HIDDEN, generator=torch.Generator().manual_seed(SEED)).to(args.device)
    g = torch.Generator(args.device).manual_seed(SEED + 1)
    W0, a0, b0 = (p.detach().clone() for p in (rbm.W, rbm.a, rbm.b))
    torch.manual_seed(SEED)  # rbms samples with the global generator
    tasks = {
        "rbm_epoch_s": Task(our_epoch_runner(rbm, data, g), args.epoch_repeats),
        "rbm_matmul_bound_s": Task(epoch_matmul_runner(W0, data, BATCH, g), args.epoch_repeats),
        "sklearn_rbm_epoch_s": Task(sklearn_epoch_runner(data, N_HIDDEN, BATCH, LR, SEED), args.sklearn_repeats),
    }
    if with_rbms:
        tasks["rbms_epoch_s"] = Task(rbms_epoch_runner(W0, a0, b0, data, BATCH, LR), args.epoch_repeats)
    return round_robin(tasks, log, args.device), rbm


def bench_ais(rbm: RBM, data: torch.Tensor, args: argparse.Namespace, with_rbms: bool) -> dict[str, Timing]:
    """Time our AIS (result: its log Z), its matmul bound and rbms' AIS (its log Z, where installed) on the same
    weights."""
    n, warm = args.ais_betas, min(200, args.ais_betas)
    W, a, b = (p.detach() for p in (rbm.W, rbm.a, rbm.b))

    def ours(steps: int) -> float:
        g = torch.Generator(args.device).manual_seed(SEED)
        return ais_log_z(rbm, data, [[1.0, steps]], n_runs=AIS_RUNS, generator=g).log_z

    def peer(steps: int) -> float:
        torch.manual_seed(SEED)
        return rbms_ais(W, a, b, AIS_RUNS, steps)

    g = torch.Generator(args.device).manual_seed(SEED)
    log(f"AIS: {AIS_RUNS} runs x {n} betas")
    tasks = {
        "ais_s": Task(lambda: ours(n), args.ais_repeats, lambda: ours(warm)),
        "ais_matmul_bound_s": Task(
            ais_matmul_runner(W, AIS_RUNS, n, g), args.ais_repeats, ais_matmul_runner(W, AIS_RUNS, warm, g)
        ),
    }
    if with_rbms:
        tasks["rbms_ais_s"] = Task(lambda: peer(n), args.ais_repeats, lambda: peer(warm))
    return round_robin(tasks, log, args.device)


def bench_stages(args: argparse.Namespace) -> dict[str, Timing]:
    """Time each workflow stage's work on the default sizes and the replay of its recorded matrix products."""
    tasks: dict[str, Task] = {}
    for name, work in stage_tasks(SEED, device=args.device).items():
        log(f"{name}: recording its matrix products")
        bound = on_threads(work.threads, matmul_replay_runner(recorded_products(work.fn), args.device))
        repeats = args.evaluate_repeats if name == "evaluate" else args.stage_repeats
        tasks[f"{name}_s"] = Task(work.fn, repeats, work.warmup)
        if name != "finetune_valid":  # the validation score is measured on its own: no target against a bound
            tasks[f"{name}_matmul_bound_s"] = Task(bound, repeats)
    return round_robin(tasks, log, args.device)


def bench_decoder(args: argparse.Namespace) -> tuple[dict[str, Timing], dict[str, float]]:
    """Time the autoregressive decoder's training step and per-code scoring at each size and the replay of their
    recorded products; also milliseconds per (image, code) pair of each."""
    tasks: dict[str, Task] = {}
    work = decoder_tasks(SEED, device=args.device)
    for name, task in work.items():
        log(f"{name}: recording its matrix products and convolutions")
        bound = on_threads(task.threads, matmul_replay_runner(recorded_products(task.fn), args.device))
        tasks[f"{name}_s"] = Task(task.fn, args.decoder_repeats, task.warmup)
        tasks[f"{name}_matmul_bound_s"] = Task(bound, args.decoder_repeats)
    timings = round_robin(tasks, log, args.device)
    return timings, per_pair_ms({key: t.seconds for key, t in timings.items()}, work)


def ratios(t: dict[str, float]) -> dict[str, float]:
    """The ratios the targets are stated in, of the measurements this run has."""
    return {name: t[num] / t[den] for name, (num, den, _) in RATIOS.items() if num in t and den in t}


def print_table(result: dict[str, Any]) -> None:
    """The timings (with the device each ran on), ratios (with the issue's targets) and log Z estimates as a
    plain-text table, headed by the device and the machine."""
    m, share, on = result["machine"], result["contention"]["foreign_cpu_share"], result["measured_on"]
    device = m["device"] + (f" ({m['device_name']})" if m["device_name"] else "")
    print(f"\ndevice: {device}; {m['cpu_count']} CPUs, {m['torch_threads']} torch threads, torch {m['torch_version']}")
    for peer, reason in result["skipped_peers"].items():
        print(f"{peer} skipped, its rows left out: {reason}")
    print(f"\n{'measurement':<40}{'seconds':>12}  {'runs on':<8}  CPU taken by other processes meanwhile")
    for key in (k for k in MEASUREMENTS if k in result):
        print(f"{key:<40}{result[key]:>12.3f}  {on[key]:<8}  {share[key] or 0:.0%}")
    if result["per_image_and_code_ms"]:
        print(f"\n{'autoregressive decoder':<40}{'ms per image and code':>22}")
        for key, ms in result["per_image_and_code_ms"].items():
            print(f"{key:<40}{ms:>22.4f}")
    print(f"\n{'ratio':<40}{'value':>8}  target")
    for key, value in result["ratios"].items():
        print(f"{key:<40}{value:>8.3f}  {RATIOS[key][2]}")
    if result["log_z"]:
        print("\nlog Z, same weights: " + "   ".join(f"{who} {lz:.4f}" for who, lz in result["log_z"].items()))
    for rule, seconds in result["workflow_rule_s"].items():
        print(f"workflow rule {rule:<20}{seconds:>10.1f} s")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run every measurement, print the table and write the JSON."""
    args = parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    skipped = {"rbms": f"cannot import it ({error})"} if (error := rbms_import_error()) else {}
    for peer, reason in skipped.items():
        log(f"{peer} skipped: {reason}")
    log(f"measuring on {args.device}; the peers on {PEER_DEVICE}")
    data, with_rbms = make_data(SEED, args.device), "rbms" not in skipped
    started, jiffies = time.perf_counter(), cpu_jiffies()
    timings: dict[str, Timing] = {}
    per_pair: dict[str, float] = {}
    if "rbm" in args.parts:
        with torch.no_grad():
            epochs, rbm = bench_epochs(data, args, with_rbms)
            timings.update(epochs)
            timings.update(bench_ais(rbm, data, args, with_rbms))
    if "stages" in args.parts:
        timings.update(bench_stages(args))
    if "decoder" in args.parts:
        decoder, per_pair = bench_decoder(args)
        timings.update(decoder)
    result: dict[str, Any] = {key: t.seconds for key, t in timings.items()}
    result["ratios"] = ratios(result)
    result["per_image_and_code_ms"] = per_pair
    result["log_z"] = {
        who: timings[key].result for who, key in (("ours", "ais_s"), ("rbms", "rbms_ais_s")) if key in timings
    }
    result["workflow_rule_s"] = workflow_rule_times(ROOT / "results")
    wall = time.perf_counter() - started
    result["measured_on"] = {key: (PEER_DEVICE if key in PEER_KEYS else args.device).type for key in timings}
    result["skipped_peers"] = skipped
    result["machine"] = machine_info(args.device)
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
        "repeats": {
            "epoch": args.epoch_repeats,
            "sklearn": args.sklearn_repeats,
            "ais": args.ais_repeats,
            "decoder": args.decoder_repeats,
        },
        "parts": args.parts,
        "protocol": "one warm-up each, then interleaved repeats; the minimum is kept; the device is synchronised "
        "before the clock is read at the start and end of each repeat",
        "peers": {
            "device": PEER_DEVICE.type,
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
