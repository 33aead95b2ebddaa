"""The tuning sweep (config['tuning'], configs/tuning.yaml): every model trained at every point of one grid of
its step size and weight decay, with the same epochs and early stopping, and each model's values chosen on its
own best validation score.

The score of a grid point is the best validation score its training kept: the K-sample bound minus log Z for a
model with a code (fine-tuning's `valid_bound`), the validation log-likelihood for the RBM on pixels
(`valid_log_likelihood`); both nats per image, higher is better. No grid point sees the test set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from binlatent import plots
from binlatent.variants import ModelSpec

SCORES = {"valid_bound": "best validation bound", "valid_log_likelihood": "best validation log-likelihood"}
STEP_LABELS = {
    False: "fine-tuning step size (AdamW learning rate)",
    True: "CD step size (pixel_rbm.lr)",
}


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


def best_score(curves: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The best validation score of one training run's curves, its epoch, and the epochs run."""
    key = next((k for k in SCORES if k in curves), None)
    if key is None:
        raise ValueError(f"curves hold no validation score ({' or '.join(SCORES)}): {sorted(curves)}")
    scores = np.asarray(curves[key], float)
    if np.isnan(scores).all():
        raise ValueError(f"curves: no epoch scored {key}")
    best = int(np.nanargmax(scores))
    epochs = np.asarray(curves.get("epoch", np.arange(1, len(scores) + 1)))
    return {"score": float(scores[best]), "score_kind": key, "best_epoch": int(epochs[best]), "epochs_run": len(scores)}


def choose(grid: pd.DataFrame) -> pd.DataFrame:
    """Mark each model's own best point: `grid` has model, lr, weight_decay and score; adds a boolean `chosen`,
    True at the highest score of each model (the first on a tie)."""
    best = grid.groupby("model", sort=False)["score"].idxmax()
    return grid.assign(chosen=grid.index.isin(best.to_numpy()))


def chosen_values(grid: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Each model's chosen step and decay, from a `choose`d grid."""
    rows = grid[grid["chosen"]]
    return {row.model: {"lr": float(row.lr), "weight_decay": float(row.weight_decay)} for row in rows.itertuples()}


def config_snippet(grid: pd.DataFrame, models: Mapping[str, Mapping[str, Any]], pixel_models: Sequence[str]) -> str:
    """The YAML to paste into config.yaml: every tuned model's entry (`models`: the config's entries) with its
    chosen lr and weight_decay, and pixel_rbm's lr and weight_decay from the RBM on pixels' choice."""
    chosen = chosen_values(grid)
    entries = {name: {**models[name], **values} for name, values in chosen.items() if name not in pixel_models}
    snippet: dict[str, Any] = {"models": entries}
    pixels = [name for name in pixel_models if name in chosen]
    if pixels:
        snippet["pixel_rbm"] = chosen[pixels[0]]
    header = (
        "# Each model's step and weight decay chosen on its own best validation score by the tuning sweep\n"
        "# (configs/tuning.yaml); paste over the same keys of config.yaml.\n"
    )
    return header + yaml.safe_dump(snippet, sort_keys=False, default_flow_style=None)


def tuning_table(points: Sequence[Mapping[str, Any]], curves_paths: Sequence[str]) -> pd.DataFrame:
    """One row per grid point (`points`: model, lr, weight_decay, pixels), with its best validation score read
    from its curves, and each model's choice marked."""
    rows = [{**point, **best_score(plots.read_curves(path))} for point, path in zip(points, curves_paths, strict=True)]
    grid = pd.DataFrame(rows)
    grid["lr"] = grid["lr"].astype(float)
    grid["weight_decay"] = grid["weight_decay"].astype(float)
    return choose(grid)


def format_tuning(grid: pd.DataFrame) -> str:
    """The grid as a markdown table: per model, each step and decay with its best validation score (the epoch it
    was reached at, of the epochs run), the chosen point in bold."""
    pretty = pd.DataFrame(
        {
            "model": grid["model"],
            "step": grid["lr"].map(value_name),
            "weight decay": grid["weight_decay"].map(value_name),
            "best validation score (nats)": [
                f"**{s:.2f}**" if c else f"{s:.2f}" for s, c in zip(grid["score"], grid["chosen"], strict=True)
            ],
            "best epoch / epochs run": [
                f"{b} / {n}" for b, n in zip(grid["best_epoch"], grid["epochs_run"], strict=True)
            ],
            "chosen": grid["chosen"].map(lambda c: "yes" if c else ""),
        }
    )
    note = (
        "Each model trained at every point of the grid with the same epochs and early stopping; score: the best "
        "validation bound (minus log Z) kept by fine-tuning, or the RBM on pixels' best validation log-likelihood, "
        "nats per image, higher is better. Each model's choice (bold) is its own best score; no test image is used."
    )
    return pretty.to_markdown(index=False) + "\n\n" + note + "\n"


def write_tuning(
    points: Sequence[Mapping[str, Any]],
    curves_paths: Sequence[str],
    models: Mapping[str, Mapping[str, Any]],
    table_csv: str | Path,
    table_md: str | Path,
    figure: str | Path,
    chosen_yaml: str | Path,
) -> pd.DataFrame:
    """The tuning table (csv, md), the figure of validation score against step size and the config snippet."""
    grid = tuning_table(points, curves_paths)
    grid.to_csv(table_csv, index=False)
    Path(table_md).write_text(format_tuning(grid))
    pixel_models = sorted(set(grid.loc[grid["pixels"], "model"]))
    Path(chosen_yaml).write_text(config_snippet(grid, models, pixel_models))
    plot_tuning(grid, figure)
    return grid


def plot_tuning(grid: pd.DataFrame, path: str | Path) -> None:
    """One panel per model: best validation score (nats) against step size (log axis), one line per weight
    decay, the chosen point ringed."""
    plt = plots.plt
    names = list(dict.fromkeys(grid["model"]))
    cols = min(3, len(names))
    rows_ = -(-len(names) // cols)
    fig, axes = plt.subplots(rows_, cols, figsize=(4.6 * cols, 3.6 * rows_), layout="constrained", squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names, strict=False):
        rows = grid[grid["model"] == name]
        for wd, line in rows.groupby("weight_decay"):
            line = line.sort_values("lr")
            ax.plot(line["lr"], line["score"], "o-", label=f"weight decay {value_name(wd)}")
        best = rows[rows["chosen"]]
        ax.plot(best["lr"], best["score"], "o", ms=14, mfc="none", mec="k", label="chosen")
        ax.set_xscale("log")
        steps = sorted(rows["lr"].unique())
        ax.set_xticks(steps, [value_name(v) for v in steps])
        ax.minorticks_off()
        ax.set_title(name)
        ax.set_xlabel(STEP_LABELS[bool(rows["pixels"].iloc[0])])
        ax.set_ylabel(SCORES[rows["score_kind"].iloc[0]] + " (nats per image)")
        ax.legend(fontsize=7)
    plots.save(fig, path)
