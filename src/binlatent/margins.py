"""The reference model's paired margins over every other model on the same test images, per training seed, with how
many seeds agree.

A margin is the mean over the same test images of the difference of two models' log-likelihood estimates,

    margin = mean_i [u_ref(x_i) - u_other(x_i)] - (log Z_ref - log Z_other),

where u is the unnormalised estimate (log-mean-exp of the importance weights, or -F(x) for the RBM on pixels).
Its standard error is that of the per-image differences, clustered by block where the data record the block of the
photograph each test image was cut from (binlatent.stats); its interval adds ±3 of them and the two models' log Z
intervals end to end (the log Z error is shared by every image, so it does not average out):
[d - 3 se - (high_ref - log Z_ref) - (log Z_other - low_other), d + 3 se + (log Z_ref - low_ref) + (high_other
- log Z_other)].
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from binlatent.io import read_h5, write_text
from binlatent.stats import Band, interval, mean_and_se

PER_IMAGE = "per_image_unnormalised_ll"  # the evaluation HDF5's per-image unnormalised estimates


def log_z_band(metrics: Mapping[str, Any]) -> Band:
    """The log Z of a metrics row with its interval (AIS's band widened by the half-schedule difference); the point 0
    for a normalised model."""
    value = float(metrics.get("log_z", 0.0) or 0.0)
    low, high = metrics.get("log_z_interval_low"), metrics.get("log_z_interval_high")
    if low is None or pd.isna(low):
        return Band.point(value)
    return Band(value, float(low), float(high))


def paired_margin(
    reference: np.ndarray,
    other: np.ndarray,
    ref_metrics: Mapping[str, Any],
    other_metrics: Mapping[str, Any],
    blocks: np.ndarray | None = None,
) -> dict[str, float]:
    """The reference model's margin over another on the same test images (module docstring): margin, se, low,
    high, in nats per image; the standard error clustered by `blocks` (each test image's block) where given."""
    if reference.shape != other.shape:
        raise ValueError(f"paired margins need the same test images; got {reference.shape} and {other.shape}")
    if blocks is not None and len(blocks) != len(reference):
        raise ValueError(f"paired margins need a block per test image; got {len(blocks)} for {len(reference)}")
    difference, se = mean_and_se(reference.astype(float) - other.astype(float), blocks)
    z_ref, z_other = log_z_band(ref_metrics), log_z_band(other_metrics)
    margin = difference - (z_ref.value - z_other.value)
    low, high = interval(margin, se, minus=[z_ref], plus=[z_other])
    return {"margin": margin, "se": se, "low": low, "high": high}


def paired_margins(
    runs: Mapping[int, Mapping[str, tuple[np.ndarray, Mapping[str, Any]]]],
    reference: str,
    blocks: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per (seed, other model): `runs` maps a seed to each model's (per-image unnormalised estimates,
    metrics row) on the same test images; standard errors clustered by `blocks` where given (`paired_margin`)."""
    rows = []
    for seed, models in runs.items():
        ref_ll, ref_metrics = models[reference]
        for name, (ll, metrics) in models.items():
            if name != reference:
                rows.append({"seed": seed, "model": name, **paired_margin(ref_ll, ll, ref_metrics, metrics, blocks)})
    return pd.DataFrame(rows, columns=["seed", "model", "margin", "se", "low", "high"])


def margin_summary(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Per other model: the mean margin over seeds, its spread across seeds (sd; NaN with one seed), the
    within-run SE (root mean square), the interval holding every seed's, the number of seeds, how many have the
    reference ahead (margin > 0) and how many have their whole interval above 0, or below 0."""
    rows = []
    for model, seeds in per_seed.groupby("model", sort=False):
        rows.append(
            {
                "model": model,
                "margin": seeds["margin"].mean(),
                "seed_sd": seeds["margin"].std(ddof=1) if len(seeds) > 1 else math.nan,
                "se": float(np.sqrt((seeds["se"] ** 2).mean())),
                "low": seeds["low"].min(),
                "high": seeds["high"].max(),
                "n_seeds": len(seeds),
                "seeds_ahead": int((seeds["margin"] > 0).sum()),
                "seeds_interval_above_0": int((seeds["low"] > 0).sum()),
                "seeds_interval_below_0": int((seeds["high"] < 0).sum()),
            }
        )
    return pd.DataFrame(rows)


def claim(row: Mapping[str, Any], reference: str) -> str:
    """'hybrid ahead in 3 of 3 seeds (interval above 0 in 2)', or behind (interval below 0 in ...), from a
    margin_summary row: the majority's side, and in how many seeds the interval excludes 0 on that side."""
    n, ahead = int(row["n_seeds"]), int(row["seeds_ahead"])
    if ahead >= n - ahead:
        return f"{reference} ahead in {ahead} of {n} seeds (interval above 0 in {int(row['seeds_interval_above_0'])})"
    return f"{reference} behind in {n - ahead} of {n} seeds (interval below 0 in {int(row['seeds_interval_below_0'])})"


def read_runs(
    runs: Mapping[int, Mapping[str, Mapping[str, str]]],
) -> dict[int, dict[str, tuple[np.ndarray, dict[str, Any]]]]:
    """Each seed's models' per-image estimates and metrics, from their 'evaluation' and 'metrics' files."""
    return {
        seed: {
            name: (
                read_h5(paths["evaluation"], [PER_IMAGE])[PER_IMAGE],
                pd.read_csv(paths["metrics"]).iloc[0].to_dict(),
            )
            for name, paths in models.items()
        }
        for seed, models in runs.items()
    }


def margin_se_note(blocks: np.ndarray | None) -> str:
    """What the margins' standard error treats as independent, for margins.md's note."""
    if blocks is None:
        return ""
    return (
        f", clustered by the {len(np.unique(blocks))} blocks of the photographs the test images were cut from "
        "(images of one block are correlated, so they do not count as independent)"
    )


def write_margins(
    runs: Mapping[int, Mapping[str, Mapping[str, str]]],
    reference: str,
    csv: str | Path,
    markdown: str | Path,
    blocks: np.ndarray | None = None,
) -> pd.DataFrame:
    """The margins as csv (per seed and the summary) and markdown (the summary, each with its claim), standard
    errors clustered by `blocks` (the test images' blocks) where given; the summary."""
    per_seed = paired_margins(read_runs(runs), reference, blocks)
    summary = margin_summary(per_seed)
    both = pd.concat([per_seed.assign(row="seed"), summary.assign(row="summary")], ignore_index=True)
    both["seed"] = both["seed"].astype("Int64")  # blank on the summary rows
    write_text(csv, both.to_csv(index=False))
    n = len(runs)
    se_label = "± within-run paired SE" + ("" if blocks is None else " (clustered by block)")
    pretty = pd.DataFrame(
        {
            "model": summary["model"],
            f"{reference}'s margin (nats), mean over seeds": summary["margin"].map(lambda v: f"{v:+.2f}"),
            "spread across seeds (sd)": summary["seed_sd"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}"),
            se_label: summary["se"].map(lambda v: f"{v:.2f}"),
            "interval (±3 SE, log Z intervals; every seed)": [
                f"[{lo:+.2f}, {hi:+.2f}]" for lo, hi in zip(summary["low"], summary["high"], strict=True)
            ],
            "seeds agreeing": [claim(row, reference) for _, row in summary.iterrows()],
        }
    )
    pretty = pretty[[c for c in pretty.columns if (pretty[c] != "").any()]]
    note = (
        f"Paired margins of {reference} over each model on the same test images, nats per image (positive: "
        f"{reference} ahead), from {n} training seed{'s' if n > 1 else ''} on one data split: per seed, the mean "
        "difference of the two models' per-image log-likelihood estimates with its standard error over test "
        f"images{margin_se_note(blocks)}; the interval adds ±3 of those and both models' log Z intervals (AIS's "
        "±3σ band widened by the half-schedule difference; shared by every image, so it does not shrink with more "
        "images). The interval column holds every seed's; per-seed rows are in margins.csv."
    )
    write_text(markdown, pretty.to_markdown(index=False) + "\n\n" + note + "\n")
    return summary
