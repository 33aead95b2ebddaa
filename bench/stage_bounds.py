"""Per-stage speed on the default config's sizes: a stage-one epoch, a fine-tuning epoch of the hybrid, its
validation score and the hybrid's evaluation, each beside the same work's matrix multiplications alone.

A bound is measured, not computed from a spec: the stage runs once under `MatmulRecorder`, which notes the
shape of every matrix product torch executes (forward and backward, AIS and RAISE included, in place or not; a
convolution as the dense products of its sizes, `convolution_products`), and `matmul_replay_runner` then times
exactly those products on this machine, into preallocated outputs. Data, models, generators and the replayed
operands all live on the device given (the CPU by default).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from harness import CPU
from torch.utils._python_dispatch import TorchDispatchMode

from binlatent.evaluate import evaluate_model
from binlatent.finetune import JointTraining
from binlatent.image import ImageFormat
from binlatent.models import build_model, model_arguments
from binlatent.networks import build_networks
from binlatent.plan import resource
from binlatent.pretrain import autoencoder_epoch
from binlatent.training import ParameterAverage, adamw
from binlatent.variants import finetune_config, model_specs

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ImageFormat((28, 28), "binary")
SPLIT_SIZES = {"train": 3000, "valid": 500, "test": 1500}  # the default run's split of the 5,000 digits

aten = torch.ops.aten
PRODUCTS = {aten.mm.default, aten.addmm.default, aten.bmm.default, aten.baddbmm.default, aten.mv.default,
            aten.addmv.default, aten.mm.out, aten.addmm.out, aten.bmm.out, aten.mv.out, aten.addmv.out,
            aten.addmm_.default, aten.baddbmm_.default, aten.addmv_.default}  # fmt: skip


CONVOLUTIONS = {aten.convolution.default, aten.convolution_backward.default}


Product = tuple[str, tuple[tuple[int, ...], ...], tuple[bool, ...], torch.dtype]


def convolution_products(func, args, out) -> list[Product]:
    """A convolution (not transposed) as the dense products of the same sizes, per group: its forward the product
    (N*H_out*W_out, k_h*k_w*C_in) x (k_h*k_w*C_in, C_out) of the unfolded input and the weights; its backward that
    product's backward, the input's gradient (rows, C_out) x (C_out, k*C_in) and the weights' (k*C_in, rows) x
    (rows, C_out), each where the backward computes it."""
    backward = func is aten.convolution_backward.default
    grad_out, weight = (args[0], args[2]) if backward else (out, args[1])
    transposed, groups = (args[7], args[9]) if backward else (args[6], args[8])
    if transposed:
        raise NotImplementedError("a transposed convolution's dense products are not written out here")
    rows, cols = grad_out.shape[0] * math.prod(grad_out.shape[2:]), weight[0].numel()  # k_h * k_w * C_in / groups
    c_out, dtype = weight.shape[0] // groups, weight.dtype
    if not backward:
        return [("mm", ((rows, cols), (cols, c_out)), (False, False), dtype)] * groups
    mask = args[10]
    products = [("mm", ((rows, c_out), (c_out, cols)), (False, False), dtype)] if mask[0] else []
    products += [("mm", ((cols, rows), (rows, c_out)), (True, False), dtype)] if mask[1] else []
    return products * groups


class MatmulRecorder(TorchDispatchMode):
    """Notes (operator, shapes of its matrix operands, which are transposed views, dtype) for every matrix product
    run inside the block (in place ones, such as a weight update's addmm_, too), and a convolution's as its dense
    products (`convolution_products`)."""

    def __init__(self) -> None:
        super().__init__()
        self.products: list[Product] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in PRODUCTS:
            operands = [a for a in args if isinstance(a, torch.Tensor)]
            operands = operands[1:3] if func.__name__.startswith(("addmm", "baddbmm", "addmv")) else operands[:2]
            shapes = tuple(tuple(o.shape) for o in operands)
            transposed = tuple(o.dim() >= 2 and not o.is_contiguous() and o.mT.is_contiguous() for o in operands)
            self.products.append((func.__name__.split(".")[0], shapes, transposed, operands[0].dtype))
        out = func(*args, **(kwargs or {}))
        if func in CONVOLUTIONS:
            self.products += convolution_products(func, args, out)
        return out


def recorded_products(fn: Callable[[], Any]) -> list[Product]:
    with MatmulRecorder() as recorder:
        fn()
    return recorder.products


def operand(shape: tuple[int, ...], transposed: bool, dtype: torch.dtype, generator: torch.Generator) -> torch.Tensor:
    """A random tensor of `shape` on the generator's device, laid out as the recorded operand was (a transposed view
    or contiguous)."""
    stored = shape if not transposed else (*shape[:-2], shape[-1], shape[-2])
    t = torch.rand(stored, generator=generator, dtype=dtype, device=generator.device)
    return t.mT if transposed else t


def matmul_replay_runner(products: list[Product], device: torch.device = CPU) -> Callable[[], None]:
    """Replays the recorded products in order on random operands of the same shapes and layouts on `device`, into
    preallocated outputs."""
    g = torch.Generator(device).manual_seed(0)
    operands: dict[tuple, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
    plan = []
    for op, (a_shape, b_shape), (a_t, b_t), dtype in products:
        key = (op, a_shape, b_shape, a_t, b_t, dtype)
        if key not in operands:
            a, b = operand(a_shape, a_t, dtype, g), operand(b_shape, b_t, dtype, g)
            operands[key] = (a, b, torch.matmul(a, b))
        plan.append(operands[key])

    def run() -> None:
        for a, b, out in plan:
            torch.matmul(a, b, out=out)

    return run


def default_config() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def digit_like(n: int, generator: torch.Generator) -> torch.Tensor:
    """n binary 784-pixel images with MNIST-like sparse, uneven pixel marginals, on the generator's device."""
    marginals = torch.rand(IMAGE.n_pixels, generator=generator, device=generator.device) ** 3
    return (torch.rand(n, IMAGE.n_pixels, generator=generator, device=generator.device) < marginals).float()


def on_threads(threads: int, fn: Callable[[], Any]) -> Callable[[], Any]:
    """fn run on `threads` torch threads, as the workflow's rule runs it."""

    def run() -> Any:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return fn()
        finally:
            torch.set_num_threads(before)

    return run


@dataclass(frozen=True)
class StageWork:
    """A stage's work on the default sizes, a small warm-up of it, and the torch threads both run on."""

    fn: Callable[[], Any]
    warmup: Callable[[], Any]
    threads: int


def stage_tasks(seed: int, threads: int | None = None, device: torch.device = CPU) -> dict[str, StageWork]:
    """Each stage's work on the default config's sizes and models on `device`, on `threads` threads or, by default,
    on the threads its rule gets. Weights start from the global CPU generator, as in the workflow's stages."""
    config = default_config()
    g = torch.Generator(device).manual_seed(seed)
    x = {split: digit_like(n, g) for split, n in SPLIT_SIZES.items()}
    torch.manual_seed(seed)

    encoder, decoder = (net.to(device) for net in build_networks(IMAGE, config["network"]))
    stage1 = config["stage1"]
    optimiser = adamw([*encoder.parameters(), *decoder.parameters()], stage1["lr"], stage1["weight_decay"])
    average = ParameterAverage(torch.nn.ModuleList([encoder, decoder]), stage1["ema"])

    def stage1_epoch(images: torch.Tensor = x["train"]) -> float:
        return autoencoder_epoch(encoder, decoder, optimiser, average, images, stage1, g)

    spec = model_specs(config)["hybrid"]
    model = build_model(model_arguments(spec, IMAGE)).to(device)
    training = JointTraining(model, finetune_config(config["finetune"], spec), g)
    small_raise = {**config["evaluate"]["raise"], "K": 2, "schedule": [[1.0, 20]], "long_schedule": [[1.0, 40]]}
    small_eval = {**config["evaluate"], "K": 10, "ais": {"runs": 10, "schedule": [[1.0, 50]]}, "raise": small_raise}

    def evaluation(cfg: Mapping[str, Any] = config["evaluate"], images: torch.Tensor = x["test"]) -> float:
        return evaluate_model(model.eval(), images, x["train"], cfg, g)[0]["test_ll"]

    tasks = {
        "stage1_epoch": ("pretrain_autoencoder", stage1_epoch, lambda: stage1_epoch(x["train"][:500])),
        "finetune_epoch": ("finetune", lambda: training.epoch(x["train"]), lambda: training.epoch(x["train"][:500])),
        "finetune_valid": ("finetune", lambda: training.validation(x["train"], x["valid"]), lambda: None),
        "evaluate": ("evaluate", evaluation, lambda: evaluation(small_eval, x["test"][:100])),
    }
    chosen = {name: threads or resource(config, rule, "threads") for name, (rule, _, _) in tasks.items()}
    return {
        name: StageWork(on_threads(chosen[name], fn), on_threads(chosen[name], warmup), chosen[name])
        for name, (_, fn, warmup) in tasks.items()
    }
