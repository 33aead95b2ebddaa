"""Figures: samples, reconstructions, training curves, AIS diagnostics and the results figure."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from binlatent.io import atomic_path, read_h5, read_h5_attrs  # noqa: E402
from binlatent.sweep import value_name  # noqa: E402
from binlatent.tuning import SCORES  # noqa: E402


def save(fig: plt.Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip("."), dpi=110, bbox_inches="tight")
    plt.close(fig)


def image_grid(images: np.ndarray, shape: Sequence[int], n_cols: int) -> np.ndarray:
    """Tile images (n, D) with intensities in [0, 1], shape (H, W) or (H, W, C), into one array
    (rows, cols) or (rows, cols, C) with one-pixel white borders."""
    h, w = shape[:2]
    n_rows = int(np.ceil(len(images) / n_cols))
    tiles = np.ones((n_rows * n_cols, h + 1, w + 1, *shape[2:]))
    tiles[: len(images), 1:, 1:] = images.reshape(len(images), *shape)
    grid = tiles.reshape(n_rows, n_cols, h + 1, w + 1, *shape[2:]).swapaxes(1, 2)
    grid = grid.reshape(n_rows * (h + 1), n_cols * (w + 1), *shape[2:])
    return np.pad(grid, [(0, 1), (0, 1)] + [(0, 0)] * (len(shape) - 2), constant_values=1.0)


def show_grid(ax: plt.Axes, images: np.ndarray, shape: Sequence[int], n_cols: int):
    """Draw a grid of images: grey levels for (H, W) images, colour for (H, W, C)."""
    grid = image_grid(np.clip(images, 0, 1), shape, n_cols)
    return ax.imshow(grid, cmap="gray", vmin=0, vmax=1) if grid.ndim == 2 else ax.imshow(grid.squeeze())


def decoded_title(name: str, shows: str) -> str:
    """A panel's title or a row's label: the model's name over what its images show (its `shows`)."""
    return f"{name}\n{shows}"


def plot_image_panels(panels: Mapping[str, np.ndarray], shape: Sequence[int], n_cols: int, path: str | Path) -> None:
    """One panel per entry, titled by its key (`decoded_title`): a grid of images with intensities in [0, 1]
    (binary images: p(pixel = 1) for a mean, 0 or 1 for a draw; 8-bit ones: intensity / 255)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.6), squeeze=False)
    for ax, (title, images) in zip(axes[0], panels.items(), strict=False):
        im = show_grid(ax, images, shape, n_cols)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    if len(shape) == 2:
        fig.colorbar(im, ax=axes[0].tolist(), fraction=0.02, label="intensity (of a mean: p(pixel = 1))")
    else:
        fig.suptitle("decoded samples, z ~ p(z): intensity 0-255 shown as 0-1")
    save(fig, path)


def plot_reconstructions(rows: Mapping[str, np.ndarray], shape: Sequence[int], path: str | Path) -> None:
    """Test images (first row) and each model's reconstruction below them, each row labelled by its key."""
    fig, axes = plt.subplots(len(rows), 1, figsize=(10, 1.3 * len(rows)), squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows.items(), strict=False):
        show_grid(ax, images, shape, len(images))
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[-1, 0].set_xlabel("test image index")
    save(fig, path)


def plot_training_curves(curves: Mapping[str, Mapping[str, np.ndarray]], path: str | Path) -> None:
    """One panel per stage, every curve against the epoch: `curves` maps the pretraining stages ('stage1...',
    'stage2..._h<n>...') and each model's name to its named series."""
    models = {k: c for k, c in curves.items() if not k.startswith("stage")}

    def pick(prefix: str, word: str) -> dict[str, np.ndarray]:
        return {f"{s} {k}": v for s, c in curves.items() if s.startswith(prefix) for k, v in c.items() if word in k}

    panels = {
        "stage 1: autoencoder": ("nats per image", pick("stage1", "nll")),
        "RBMs: stage 2 prior, stage 1 stack": ("squared error per example", pick("stage", "reconstruction")),
        "each model: validation score": (
            "nats per image",
            {
                f"{m} {k}": v
                for m, c in models.items()
                for k, v in c.items()
                if k.startswith("valid_") and "exact" not in k and ("bound" in k or "log_likelihood" in k)
            },  # fmt: skip
        ),
    }
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for ax, (title, (ylabel, series)) in zip(axes, panels.items(), strict=False):
        for label, values in series.items():
            scored = np.isfinite(values)  # validation scores every few epochs: NaN between
            ax.plot(np.arange(1, len(values) + 1)[scored], np.asarray(values)[scored], marker=".", label=label)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if series:
            ax.legend(fontsize=7)
    save(fig, path)


def plot_ablations(panels: Mapping[str, Sequence[tuple[str, float, float]]], path: str | Path) -> None:
    """One panel per ablated choice: test log-likelihood (± one standard error) against the choice's values."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False, layout="constrained")
    for ax, (axis, points) in zip(axes[0], panels.items(), strict=False):
        labels, ll, se = zip(*points, strict=True)
        ax.errorbar(range(len(labels)), ll, yerr=se, fmt="o-", capsize=5)
        ax.set_xticks(range(len(labels)), [textwrap.fill(label, 20) for label in labels])  # long: the decoder's
        ax.set_xlabel(axis.replace("_", " "))
        ax.set_ylabel("test log-likelihood (nats per image)")
        ax.grid(alpha=0.3)
    fig.suptitle("Ablations of the hybrid (error bars: ± one standard error)")
    save(fig, path)


def plot_ais_diagnostic(
    trace_betas: np.ndarray,
    trace_log_weights: np.ndarray,
    estimates: Mapping[str, tuple[float, float, float]],
    log_z_base: float,
    path: str | Path,
    title: str,
) -> None:
    """Left: log Z_0 + log w of each forward AIS run against beta. Right: the log Z estimates with bands."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    fig.suptitle(title)
    left.plot(trace_betas, log_z_base + trace_log_weights, color="tab:blue", alpha=0.15, lw=0.8)
    left.plot(trace_betas, log_z_base + trace_log_weights.mean(1), color="black", lw=1.5, label="mean over runs")
    left.set_xlabel("inverse temperature beta")
    left.set_ylabel("log Z_0 + log w (nats)")
    left.set_title("forward AIS runs")
    left.legend()
    names = list(estimates)
    for i, name in enumerate(names):
        mid, low, high = estimates[name]
        low = low if np.isfinite(low) else mid
        right.errorbar([i], [mid], yerr=[[mid - low], [high - mid]], fmt="o", capsize=6)
    right.set_xticks(range(len(names)), names)
    right.set_ylabel("log Z (nats)")
    right.set_title("log Z estimates (bars: +/-3 sigma)")
    right.grid(alpha=0.3)
    save(fig, path)


def plot_ais_evaluation(evaluation_path: str | Path, path: str | Path, model: str) -> None:
    """The AIS diagnostic of `model`'s evaluation HDF5, titled with its name: run traces and log Z estimates (exact
    where enumerated); nothing for a model whose log Z needed no AIS (a normalised prior)."""
    evaluation = read_h5(evaluation_path)
    if "ais_forward/estimate" not in evaluation:
        return
    metrics = read_h5_attrs(evaluation_path)
    estimates = {"forward AIS": tuple(evaluation["ais_forward/estimate"][:3])}
    if "exact_log_z" in metrics:
        estimates["exact"] = (metrics["exact_log_z"],) * 3
    plot_ais_diagnostic(
        evaluation["ais_forward/trace_betas"],
        evaluation["ais_forward/trace_log_weights"],
        estimates,
        float(evaluation["ais_forward/estimate"][3]),
        path,
        f"{model}: its prior's log Z by annealed importance sampling",
    )


def draw_results(table: pd.DataFrame, key: str, title: str, best_codec: pd.Series | None = None) -> plt.Figure:
    """Each of our models' test figure `key` (test_ll or test_bpd) as a point with its interval (thick: ± one
    standard error over test images; thin: the interval with the log Z error), best at the top; published figures
    and the best lossless codec on the same test images (a reference row, codecs.best_codec) as labelled vertical
    lines. `table` has `label`, `source`, key and its _se, _low and _high."""
    ours = table[table["source"] == "this workflow"].sort_values(key, ascending=key == "test_bpd")
    published = table[table["source"].str.startswith("published") & table[key].notna()]
    labels = [textwrap.fill(label, 44) for label in ours["label"]]  # long model labels would squeeze the axes
    height = 2.6 + 0.2 * sum(label.count("\n") + 2 for label in labels)  # inches: the legend below, the rows
    fig, ax = plt.subplots(figsize=(10, height), layout="constrained")
    y = np.arange(len(ours))[::-1]
    values = ours[key].to_numpy(float)
    ax.errorbar(values, y, xerr=[values - ours[f"{key}_low"], ours[f"{key}_high"] - values], fmt="none", ecolor="0.6")
    ax.errorbar(values, y, xerr=ours[f"{key}_se"], fmt="o", color="tab:blue", elinewidth=3, capsize=0)
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.6, len(ours) - 0.4)
    styles = ["--", ":", "-.", (0, (5, 1)), (0, (1, 3))]
    for i, (_, row) in enumerate(published.sort_values(key).iterrows()):
        label = f"published: {row['model']} ({row[key]:.2f})"
        ax.axvline(row[key], color=plt.cm.Reds(0.4 + 0.5 * i / len(published)), ls=styles[i % 5], lw=1, label=label)
    lines = "published: lines, other data"
    if best_codec is not None:
        label = f"best lossless codec, same test images: {best_codec['model']} ({best_codec[key]:.3f})"
        ax.axvline(best_codec[key], color="tab:green", lw=2, label=label)
        lines = f"best lossless codec: green line, same images; {lines}"
    if ax.get_legend_handles_labels()[0]:
        fig.legend(fontsize=7, loc="outside lower center", ncols=2)
    better = "lower" if key == "test_bpd" else "higher"
    unit = "bits per dimension" if key == "test_bpd" else "log-likelihood (nats per image)"
    ax.set_xlabel(f"test {unit}, {better} is better")
    ax.set_title(f"{title}: our models (thick: ±1 SE; thin: ±3 SE and log Z interval); {lines}")
    ax.title.set_fontsize(9)
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_results(
    table: pd.DataFrame, key: str, path: str | Path, title: str, best_codec: pd.Series | None = None
) -> None:
    """draw_results, saved to path."""
    save(draw_results(table, key, title, best_codec), path)


STEP_LABELS = {
    False: "fine-tuning step size (AdamW learning rate)",
    True: "CD step size (pixel_rbm.lr)",
}


def plot_tuning(grid: pd.DataFrame, path: str | Path) -> None:
    """One panel per model: best validation score (nats) against step size (log axis), one line per weight
    decay, the chosen point ringed."""
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
    save(fig, path)
