"""Several training seeds on one data split: the results table's mean over seeds with the spread across them
(the reference model's paired margins over every other model, per seed, are binlatent.margins')."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

SPREAD_KEYS = ("test_ll", "test_bpd")  # the figures whose spread across seeds the table reports


def aggregate_seeds(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per model (in first-seen order) from one metrics row per (seed, model), `seed` a column.

    Numbers are averaged over seeds, except standard errors (the root mean square: a typical within-run SE),
    interval ends (`_low`: the lowest, `_high`: the highest, so that the interval holds every seed's) and the AIS
    check (reliable only when every seed's is). `n_seeds` counts the seeds; `<key>_seed_sd` is the standard
    deviation across seeds of each of SPREAD_KEYS, set only with two or more seeds.
    """
    if "seed" not in metrics.columns:
        metrics = metrics.assign(seed=0)
    rows = []
    for model, runs in metrics.groupby("model", sort=False):
        row: dict[str, Any] = {"model": model, "n_seeds": runs["seed"].nunique()}
        for column in runs.columns.drop(["model", "seed"]):
            values = runs[column]
            if column == "log_z_reliable":
                row[column] = bool(values.astype(bool).all()) if values.notna().any() else math.nan
            elif column == "log_z_check":
                row[column] = flagged_checks(runs)
            elif not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
                row[column] = values.iloc[0]
            elif column.endswith("_se"):
                row[column] = (
                    float(np.sqrt(np.nanmean(values.to_numpy(float) ** 2))) if values.notna().any() else math.nan
                )
            elif column.endswith("_low"):
                row[column] = values.min()
            elif column.endswith("_high"):
                row[column] = values.max()
            else:
                row[column] = values.mean()
        for key in SPREAD_KEYS:
            if row["n_seeds"] > 1 and key in runs and runs[key].notna().all():
                row[f"{key}_seed_sd"] = float(runs[key].std(ddof=1))
        rows.append(row)
    return pd.DataFrame(rows)


def flagged_checks(runs: pd.DataFrame) -> Any:
    """The AIS check's reasons of every seed whose log Z is flagged ('seed N: ...'), else the first seed's."""
    reliable = runs["log_z_reliable"] if "log_z_reliable" in runs else pd.Series(True, index=runs.index)
    flagged = runs[reliable.notna() & ~reliable.fillna(True).astype(bool)]
    if flagged.empty:
        return runs["log_z_check"].iloc[0]
    return "; ".join(
        f"seed {seed}: {check}" for seed, check in zip(flagged["seed"], flagged["log_z_check"], strict=True)
    )


def seed_metrics(runs: Mapping[int, Mapping[str, Mapping[str, str]]]) -> pd.DataFrame:
    """Every (seed, model)'s metrics row, with its seed as a column."""
    frames = [
        pd.read_csv(paths["metrics"]).assign(seed=seed) for seed, models in runs.items() for paths in models.values()
    ]
    return pd.concat(frames, ignore_index=True)
