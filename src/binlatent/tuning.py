"""The tuning sweep (config['tuning'], configs/tuning.yaml): every model trained at every point of one grid of
its step size and weight decay, with the same epochs and early stopping, and each model's values chosen on its
own best validation score.

The score of a grid point is the best validation score its training kept: the K-sample bound minus log Z for a
model with a code (fine-tuning's `valid_bound`), the validation log-likelihood for the RBM on pixels
(`valid_log_likelihood`); both nats per image, higher is better. No grid point sees the test set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from binlatent.io import read_curves, write_text
from binlatent.sweep import value_name

SCORES = {"valid_bound": "best validation bound", "valid_log_likelihood": "best validation log-likelihood"}


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
    rows = [{**point, **best_score(read_curves(path))} for point, path in zip(points, curves_paths, strict=True)]
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
    chosen_yaml: str | Path,
) -> pd.DataFrame:
    """The tuning table (csv, md) and the config snippet of each model's choice; the grid."""
    grid = tuning_table(points, curves_paths)
    write_text(table_csv, grid.to_csv(index=False))
    write_text(table_md, format_tuning(grid))
    pixel_models = sorted(set(grid.loc[grid["pixels"], "model"]))
    write_text(chosen_yaml, config_snippet(grid, models, pixel_models))
    return grid
