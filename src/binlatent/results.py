"""The results table (our models, then published figures) and the ablation panels, from the metrics rows."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from binlatent import codecs, plots
from binlatent.io import write_text
from binlatent.published import published_table
from binlatent.variants import DECODER_LABELS, ModelSpec, ablation_axis

RESULT_COLUMNS = [
    "model",
    "prior",
    "pretraining",
    "decoder",
    "lr",
    "weight_decay",
    "test_ll",
    "test_ll_se",
    "test_ll_low",
    "test_ll_high",
    "n_seeds",
    "test_ll_seed_sd",
    "test_bpd",
    "test_bpd_se",
    "test_bpd_low",
    "test_bpd_high",
    "test_bpd_seed_sd",
    "log_z",
    "log_z_low",
    "log_z_high",
    "log_z_half_difference",
    "log_z_interval_low",
    "log_z_interval_high",
    "log_z_ess",
    "log_z_reliable",
    "log_z_check",
    "test_ll_conservative",
    "test_ll_conservative_se",
    "test_ll_conservative_4K",
    "test_ll_conservative_4K_se",
    "raise_4K_shift",
    "test_ll_conservative_long",
    "test_ll_conservative_long_se",
    "test_bpd_conservative",
    "test_bpd_conservative_se",
    "exact_log_z",
    "test_ll_exact_log_z",
    "K",
    "n_test",
    "n_params",
    "train_seconds",
    "source",
    "binarisation",
]
PRIOR_LABELS = {
    "rbm": "RBM",
    "deep_rbm": "deep RBM (DBN)",
    "factorised": "factorised Bernoulli",
    "gaussian": "Gaussian N(0, I)",
    "pixels": "-",
}
RAISE_LABEL = "RAISE: lower bound on the annealing model"


def results_table(
    metrics: pd.DataFrame, pixels: str = "binary", references: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Our models (measured), the reference rows (codecs on the same test images, see codecs.py) where given, then
    the published rows for `pixels` data, one row per model."""
    ours = metrics.assign(source="this workflow")
    table = pd.concat([ours, references, published_table(pixels)], ignore_index=True)
    return table[[c for c in RESULT_COLUMNS if c in table.columns]]


def _fmt(value: Any, digits: int = 2) -> str:
    return "" if pd.isna(value) else f"{value:.{digits}f}"


def _with_se(row: pd.Series, key: str, digits: int = 2) -> str:
    se = row.get(f"{key}_se")
    return _fmt(row.get(key), digits) + ("" if pd.isna(se) else f" ± {se:.{digits}f}")


def _interval(row: pd.Series, key: str, digits: int = 2) -> str:
    low, high = row.get(f"{key}_low"), row.get(f"{key}_high")
    return "" if pd.isna(low) else f"[{_fmt(low, digits)}, {_fmt(high, digits)}]"


def _log_z(row: pd.Series) -> str:
    """'195.38 [195.32, 195.44], half-schedule Δ +0.01': AIS with its ±3σ band and the half-schedule difference."""
    if pd.isna(row.get("log_z_high")):
        return ""
    difference = row.get("log_z_half_difference")
    return f"{_fmt(row['log_z'])} {_interval(row, 'log_z')}" + (
        "" if pd.isna(difference) else f", half-schedule Δ {difference:+.2f}"
    )


def _ais_check(row: pd.Series) -> str:
    reliable = row.get("log_z_reliable")
    return "" if pd.isna(reliable) else ("ok" if bool(reliable) else f"FLAGGED: {row['log_z_check']}")


def model_label(row: pd.Series) -> str:
    """'hybrid (RBM prior, pretrained: stages 1+2)', with ', decoder: autoregressive (gated PixelCNN)' for a model
    whose decoder is autoregressive; or the published model's name."""
    if pd.isna(row.get("prior")):
        return row["model"]
    if row["prior"] == "pixels":
        return f"{row['model']} (RBM on pixels)"
    decoder = row.get("decoder")
    decoder = f", decoder: {DECODER_LABELS[decoder]}" if decoder == "autoregressive" else ""
    return f"{row['model']} ({PRIOR_LABELS[row['prior']]} prior, pretrained: {row['pretraining']}{decoder})"


def format_results(table: pd.DataFrame) -> pd.DataFrame:
    """Human-readable copy: 'value ± se', intervals as [low, high]; a column that is blank in every row (a figure
    this run did not compute) is left out; bits/dim columns first when the table has them (8-bit images)."""
    columns = {
        "model": model_label,
        "test bits/dim": lambda r: _with_se(r, "test_bpd", 3),
        "bits/dim interval (±3 SE, log Z)": lambda r: _interval(r, "test_bpd", 3),
        "bits/dim spread across seeds (sd)": lambda r: _fmt(r.get("test_bpd_seed_sd"), 3),
        "test log-lik. (nats) ± SE": lambda r: _with_se(r, "test_ll"),
        "spread across seeds (sd)": lambda r: _fmt(r.get("test_ll_seed_sd")),
        "seeds": lambda r: "" if pd.isna(r.get("n_seeds")) or r["n_seeds"] < 2 else str(int(r["n_seeds"])),
        "interval (±3 SE, log Z interval)": lambda r: _interval(r, "test_ll"),
        "log Z (AIS, ±3σ band)": _log_z,
        "AIS check": _ais_check,
        f"{RAISE_LABEL}, K": lambda r: _with_se(r, "test_ll_conservative"),
        "same, 4K": lambda r: _with_se(r, "test_ll_conservative_4K"),
        "same, 4K, long schedule": lambda r: _with_se(r, "test_ll_conservative_long"),
        "RAISE bits/dim, K": lambda r: _with_se(r, "test_bpd_conservative", 3),
        "log Z exact": lambda r: _fmt(r.get("exact_log_z")),
        "test log-lik., exact log Z": lambda r: _fmt(r.get("test_ll_exact_log_z")),
        "step": lambda r: "" if pd.isna(r.get("lr")) else f"{r['lr']:g}",
        "decay": lambda r: "" if pd.isna(r.get("weight_decay")) else f"{r['weight_decay']:g}",
        "parameters": lambda r: "" if pd.isna(r.get("n_params")) else f"{int(r['n_params']):,}",
        "train time (s)": lambda r: _fmt(r.get("train_seconds"), 0),
        "source": lambda r: r["source"],
    }
    pretty = pd.DataFrame([{name: cell(r) for name, cell in columns.items()} for _, r in table.iterrows()])
    return pretty[[c for c in pretty.columns if (pretty[c] != "").any()]]


def write_results(
    metrics: pd.DataFrame,
    csv: str | Path,
    markdown: str | Path,
    figure: str | Path,
    pixels: str = "binary",
    references: pd.DataFrame | None = None,
) -> None:
    """The results table as csv (every number) and markdown (formatted, with a note), and its figure (each model's
    test figure with its interval, published figures and the best codec as reference lines); `references` (codecs on
    the same test images) join the table as rows marked 'reference: not a model'."""
    k = int(metrics["K"].max())  # the evaluation's K: every model sampling from q uses it
    n_seeds = int(metrics["n_seeds"].max()) if "n_seeds" in metrics else 1
    runs = (
        "one training run per model"
        if n_seeds == 1
        else f"the mean over {n_seeds} training seeds on one data split, the spread across seeds (sd) beside it, "
        "and the root mean square of the seeds' standard errors; the interval holds every seed's"
    )
    table = results_table(metrics, pixels, references)
    write_text(csv, table.to_csv(index=False))
    pretty = format_results(table)
    note = (
        "Test log-likelihood in nats per image (higher is better): importance sampling with "
        f"K = {k} samples from q, minus log Z (forward AIS) for an RBM prior; -F(x) - log Z for the RBM on pixels; "
        f"± one standard error over test images ({runs}). The "
        "interval adds end to end ±3 standard errors over test images and the log Z interval: AIS's ±3σ band "
        "widened on each side by the difference from an independent AIS run at half the temperatures (AIS's "
        "shortfall from a short schedule, which the band leaves out). The AIS check flags a log Z whose "
        "half-schedule run falls below it beyond 3σ of their difference, or whose weights' effective sample "
        "size is under 10% of the runs. RAISE is a stochastic lower bound on the log-likelihood of the annealing "
        "model (the model whose top RBM is replaced by the annealing chain), not of the RBM; it approaches the "
        "RBM's as the schedule lengthens: read it at K and 4K samples from q (the 4K include the K) and at 4K with "
        "a longer schedule, to see how far it has converged in K and in the schedule. Train time includes "
        "pretraining; step and decay are the fine-tuning "
        "step size and weight decay (the RBM on pixels: its CD step and L2 decay). "
    )
    if pixels == "8bit":
        note += (
            "Bits/dim = -log-likelihood / (D ln 2) of the 8-bit images under the discretised likelihood (lower is "
            "better). Published rows were measured on CIFAR-10, not on this run's data."
        )
        title, key = "Test bits per dimension", "test_bpd"
    else:
        note += "Published rows were measured on full MNIST, not on this run's data."
        title, key = "Test log-likelihood (nats per image)", "test_ll"
    if "se_clusters" in metrics:
        note += (
            f" Standard errors are clustered by the {int(metrics['se_clusters'].max())} blocks of the photographs "
            "that the test crops were cut from (crops of one block are correlated), with the factor G/(G-1)."
        )
    if references is not None:
        note += (
            f" Rows marked '{codecs.REFERENCE_SOURCE}' are lossless codecs on the same test images: "
            + "; ".join(codec.settings for codec in codecs.CODECS.values())
            + f"; with {codecs.codec_libraries()}. Each image is its own file, headers included (8 * bytes / dims), "
            "and every file was decoded back and checked bit for bit against its image. The last such row is the "
            "entropy of each channel's value histogram over the test images. The figure marks the best codec as a "
            "green line."
        )
    write_text(markdown, pretty.to_markdown(index=False) + "\n\n" + note + "\n")
    labelled = table.assign(label=table.apply(model_label, axis=1))
    plots.plot_results(labelled, key, figure, title, codecs.best_codec(table))


def ablation_panels(
    metrics: pd.DataFrame, specs: Mapping[str, ModelSpec], reference: str
) -> dict[str, list[tuple[str, float, float]]]:
    """Per ablated choice, (value, test LL, its standard error) of the reference and of each model that
    differs from it in that choice alone, sorted by value; empty when no model is such an ablation."""
    rows = metrics.set_index("model")
    panels: dict[str, list[tuple[Any, float, float]]] = {}
    for name, spec in specs.items():
        axis = ablation_axis(spec, specs[reference])
        if axis is not None:
            panels.setdefault(axis, [point(specs[reference], axis, rows.loc[reference])])
            panels[axis].append(point(spec, axis, rows.loc[name]))
    order = {"none": 0, "stage 1": 1, "stages 1+2": 2, **{label: i for i, label in enumerate(DECODER_LABELS.values())}}
    return {
        axis: [(str(v), ll, se) for v, ll, se in sorted(points, key=lambda p: order.get(p[0], p[0]))]
        for axis, points in panels.items()
    }


def point(spec: ModelSpec, axis: str, row: pd.Series) -> tuple[Any, float, float]:
    """(the spec's value of `axis`, the decoder in words (DECODER_LABELS), the test LL, its standard error)."""
    value = spec.decoder_label if axis == "decoder" else getattr(spec, axis)
    return value, float(row["test_ll"]), float(row["test_ll_se"])
