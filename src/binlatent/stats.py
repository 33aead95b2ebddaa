"""Means with standard errors and their intervals: the one place for the formulas that every table uses.

The standard error of a mean of n values y_i treats them as independent, std(y) / sqrt(n) (ddof 1), or, where each
value belongs to a cluster g (crops cut from one block of a photograph are correlated), is the cluster-robust
(sandwich) standard error with the small-sample factor G / (G - 1),

    se = sqrt(G / (G - 1) * sum_g (sum_{i in g} (y_i - ybar))^2) / n,

which is the independent one when every cluster holds one value.

An interval of an estimate made from a mean and log partition functions, such as log p(x) = mean(u) - log Z or a
paired margin mean(u_a - u_b) - (log Z_a - log Z_b), adds end to end ±INTERVAL_SE standard errors of the mean and
the interval of every log Z it subtracts or adds: a log Z's error is shared by every image, so it does not average
out over the test set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

INTERVAL_SE = 3.0  # standard errors of the mean in an interval


def clustered_se(values: np.ndarray, clusters: np.ndarray) -> float:
    """The cluster-robust standard error of values.mean(), clusters (n,) labelling each value's cluster."""
    _, index = np.unique(clusters, return_inverse=True)
    n_clusters = index.max() + 1
    if n_clusters < 2:
        raise ValueError(f"a clustered standard error needs at least 2 clusters, got {n_clusters}")
    sums = np.bincount(index, weights=values - values.mean())  # (G,)
    return float(np.sqrt(n_clusters / (n_clusters - 1) * np.sum(sums**2)) / len(values))


def mean_and_se(values: np.ndarray, clusters: np.ndarray | None = None) -> tuple[float, float]:
    """The mean of `values` and its standard error: independent values, or clustered by `clusters` where given."""
    values = np.asarray(values, dtype=np.float64)
    if clusters is not None:
        return float(values.mean()), clustered_se(values, clusters)
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))


@dataclass(frozen=True)
class Band:
    """An estimate with its interval [low, high], such as a log Z with AIS's band widened by the half-schedule
    difference; a normalised prior's log Z is the point 0."""

    value: float
    low: float
    high: float

    @classmethod
    def point(cls, value: float) -> Band:
        return cls(value, value, value)


def interval(estimate: float, se: float, minus: Sequence[Band] = (), plus: Sequence[Band] = ()) -> tuple[float, float]:
    """[low, high] of an estimate made of a mean (standard error `se`) minus the values of the bands `minus` and
    plus those of `plus`: ±INTERVAL_SE se, and each band's interval, end to end."""
    below = sum(b.high - b.value for b in minus) + sum(b.value - b.low for b in plus)
    above = sum(b.value - b.low for b in minus) + sum(b.high - b.value for b in plus)
    return estimate - INTERVAL_SE * se - below, estimate + INTERVAL_SE * se + above
