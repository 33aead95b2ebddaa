"""The results table (our models, then published figures) and the ablation panels, from the metrics rows."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from binlatent import plots
from binlatent.published import published_table
from binlatent.variants import ModelSpec, ablation_axis

RESULT_COLUMNS = [
    "model",
    "prior",
    "pretraining",
    "test_ll",
    "test_ll_se",
    "test_bpd",
    "test_bpd_se",
    "log_z",
    "log_z_low",
    "log_z_high",
    "test_ll_conservative",
    "test_ll_conservative_se",
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
PRIOR_LABELS = {"rbm": "RBM", "factorised": "factorised Bernoulli", "gaussian": "Gaussian N(0, I)", "pixels": "-"}


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


def model_label(row: pd.Series) -> str:
    """'hybrid (RBM prior, pretrained: stages 1+2)', or the published model's name."""
    if pd.isna(row.get("prior")):
        return row["model"]
    if row["prior"] == "pixels":
        return f"{row['model']} (RBM on pixels)"
    return f"{row['model']} ({PRIOR_LABELS[row['prior']]} prior, pretrained: {row['pretraining']})"


def format_results(table: pd.DataFrame) -> pd.DataFrame:
    """Human-readable copy: 'value ± se', AIS bands as [low, high], blanks where a value does not apply;
    bits/dim columns first when the table has them (8-bit images)."""
    rows = []
    for _, r in table.iterrows():
        band = f" [{_fmt(r.get('log_z_low'))}, {_fmt(r.get('log_z_high'))}]" if pd.notna(r.get("log_z_high")) else ""
        bits = {}
        if "test_bpd" in table.columns:
            bits = {
                "test bits/dim": _with_se(r, "test_bpd", 3),
                "conservative bits/dim (RAISE)": _with_se(r, "test_bpd_conservative", 3),
            }
        rows.append(
            {
                "model": model_label(r),
                **bits,
                "test log-lik. (nats)": _with_se(r, "test_ll"),
                "log Z (AIS, ±3σ band)": _fmt(r.get("log_z")) + band if pd.notna(r.get("log_z_high")) else "",
                "conservative (RAISE)": _with_se(r, "test_ll_conservative"),
                "log Z exact": _fmt(r.get("exact_log_z")),
                "test log-lik., exact log Z": _fmt(r.get("test_ll_exact_log_z")),
                "parameters": "" if pd.isna(r.get("n_params")) else f"{int(r['n_params']):,}",
                "train time (s)": _fmt(r.get("train_seconds"), 0),
                "source": r["source"],
            }
        )
    return pd.DataFrame(rows)


def write_results(
    metrics: pd.DataFrame, out_dir: Path, pixels: str = "binary", references: pd.DataFrame | None = None
) -> None:
    """results.csv (every number), results.md (formatted, with a note) and results.png into out_dir."""
    k = int(metrics["K"].max())  # the evaluation's K: every model sampling from q uses it
    table = results_table(metrics, pixels, references)
    table.to_csv(out_dir / "results.csv", index=False)
    pretty = format_results(table)
    note = (
        "Test log-likelihood in nats per image (higher is better): importance sampling with "
        f"K = {k} samples from q, minus log Z (forward AIS, ±3σ band) for an RBM prior; -F(x) - log Z for the "
        "RBM on pixels; ± one standard error over test images. RAISE is a conservative (stochastic lower bound) "
        "figure. Train time includes pretraining. "
    )
    if pixels == "8bit":
        note += (
            "Bits/dim = -log-likelihood / (D ln 2) of the 8-bit images under the discretised likelihood (lower is "
            "better). Published rows were measured on CIFAR-10, not on this run's data."
        )
        title = "Test bits per dimension and log-likelihood (nats per image)"
    else:
        note += "Published rows were measured on full MNIST, not on this run's data."
        title = "Test log-likelihood (nats per image)"
    if "se_clusters" in metrics:
        note += (
            f" Standard errors are clustered by the {int(metrics['se_clusters'].max())} blocks of the photographs "
            "that the test crops were cut from (crops of one block are correlated), with the factor G/(G-1)."
        )
    if references is not None:
        note += (
            " Rows marked 'reference: not a model' are lossless codecs on the same test images, each image in its "
            "own file (PNG optimised, WebP lossless; 8 * bytes / dims, headers included), and the entropy of each "
            "channel's value histogram over the test images."
        )
    (out_dir / "results.md").write_text(pretty.to_markdown(index=False) + "\n\n" + note + "\n")
    plots.plot_table(pretty, out_dir / "results.png", title)


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
    order = {"none": 0, "stage 1": 1, "stages 1+2": 2}
    return {
        axis: [(str(v), ll, se) for v, ll, se in sorted(points, key=lambda p: order.get(p[0], p[0]))]
        for axis, points in panels.items()
    }


def point(spec: ModelSpec, axis: str, row: pd.Series) -> tuple[Any, float, float]:
    return getattr(spec, axis), float(row["test_ll"]), float(row["test_ll_se"])
