"""The tuning sweep's grid (config['tuning'], configs/tuning.yaml): which (step, weight decay) points each model
is trained at, and the spec or settings of one point. The sweep's table and choice are binlatent.tuning's."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from binlatent.variants import ModelSpec


def value_name(value: float) -> str:
    """A grid value as it appears in paths and wildcards: 0.0003 -> '0.0003', 1e-05 -> '1e-05'."""
    return f"{float(value):g}"


def grid_points(
    spec: ModelSpec, tuning: Mapping[str, Sequence[float]], pixel_rbm: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """The (step, decay) grid of one model, as value names: config['tuning']'s lists, an empty list keeping the
    model's configured value (the RBM on pixels: pixel_rbm_lr and pixel_rbm_weight_decay, else pixel_rbm's)."""
    if spec.prior == "pixels":
        steps = tuning.get("pixel_rbm_lr") or [pixel_rbm["lr"]]
        decays = tuning.get("pixel_rbm_weight_decay") or [pixel_rbm["weight_decay"]]
    else:
        steps, decays = tuning.get("lr") or [spec.lr], tuning.get("weight_decay") or [spec.weight_decay]
    return [(value_name(lr), value_name(wd)) for lr in steps for wd in decays]


def is_on(tuning: Mapping[str, Sequence[float]]) -> bool:
    """Whether config['tuning'] asks for a sweep: any of its lists non-empty."""
    return any(tuning.values())


def tuned_spec(spec: ModelSpec, lr: str, wd: str) -> ModelSpec:
    """A model's spec at one grid point of its fine-tuning step and weight decay."""
    return dataclasses.replace(spec, lr=float(lr), weight_decay=float(wd))


def tuned_pixel_rbm(pixel_rbm: Mapping[str, Any], lr: str, wd: str) -> dict[str, Any]:
    """config['pixel_rbm'] at one grid point of its step and L2 decay (a phase with its own lr keeps it)."""
    return {**pixel_rbm, "lr": float(lr), "weight_decay": float(wd)}
