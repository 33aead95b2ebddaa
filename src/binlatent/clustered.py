"""Standard errors clustered by the region each test image was cut from: crops of one block of a photograph are
correlated, so treating them as independent understates the uncertainty of their mean.

For a mean of n values y_i in G clusters g, the cluster-robust (sandwich) standard error with the small-sample
factor G / (G - 1) is

    se = sqrt(G / (G - 1) * sum_g (sum_{i in g} (y_i - ybar))^2) / n,

which is the usual std(y) / sqrt(n) (ddof 1) when every cluster holds one value.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

# per-image arrays of the evaluation and the standard errors of their means in its metrics
CLUSTERED = {"per_image_unnormalised_ll": "test_ll_se", "per_image_conservative_ll": "test_ll_conservative_se"}


def clustered_se(values: np.ndarray, clusters: np.ndarray) -> float:
    """The cluster-robust standard error of values.mean(), clusters (n,) labelling each value's cluster."""
    _, index = np.unique(clusters, return_inverse=True)
    n_clusters = index.max() + 1
    if n_clusters < 2:
        raise ValueError(f"a clustered standard error needs at least 2 clusters, got {n_clusters}")
    sums = np.bincount(index, weights=values - values.mean())  # (G,)
    return float(np.sqrt(n_clusters / (n_clusters - 1) * np.sum(sums**2)) / len(values))


def use_clustered_errors(metrics: dict[str, float], arrays: Mapping[str, np.ndarray], clusters: np.ndarray) -> None:
    """Each test log-likelihood's standard error clustered by `clusters` (the test images' blocks), in place; the
    standard errors that treat images as independent are kept as *_se_iid, and the number of clusters as se_clusters."""
    for name, key in CLUSTERED.items():
        if name in arrays:
            metrics[f"{key}_iid"] = metrics[key]
            metrics[key] = clustered_se(arrays[name], clusters)
    metrics["se_clusters"] = len(np.unique(clusters))
