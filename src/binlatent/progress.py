"""Progress of a long computation in the log (logger "binlatent", INFO): how much of it is done, the time taken and
an estimate of the time left, at most every REPORT_EVERY_S seconds, so that a short call logs nothing.

Meters report only inside a call marked `@reported` (GenerativeModel.log_likelihood): the same loops run silently
in training's validation. A meter costs one clock read per `advance` while reporting, a flag test otherwise.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

log = logging.getLogger("binlatent")

REPORT_EVERY_S = 10.0  # seconds between two reports of one meter
_reporting: contextvars.ContextVar[bool] = contextvars.ContextVar("binlatent_progress", default=False)

F = TypeVar("F", bound=Callable)


def reported(fn: F) -> F:
    """Meters created during a call of `fn` report (in its thread)."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        token = _reporting.set(True)
        try:
            return fn(*args, **kwargs)
        finally:
            _reporting.reset(token)

    return call  # type: ignore[return-value]


class Meter:
    """Progress through `total` units of work (`unit`) of a task named `what`."""

    def __init__(self, what: str, total: int, unit: str):
        self.what, self.total, self.unit, self.every = what, max(int(total), 1), unit, REPORT_EVERY_S
        self.enabled = _reporting.get()
        self.done = 0
        self.start = self.last = time.monotonic()

    def advance(self, units: int, detail: str = "", *args: object) -> None:
        """`units` more units are done; `detail % args` is added to the report (formatted only when reported)."""
        if not self.enabled:
            return
        self.done += units
        done, now = self.done, time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        elapsed = now - self.start
        left = elapsed * (self.total - done) / done if done else float("nan")
        log.info(
            "%s: %s of %s %s (%.0f%%)%s, %s elapsed, about %s left",
            self.what, f"{done:,}", f"{self.total:,}", self.unit, 100 * done / self.total,
            ", " + detail % args if detail else "", duration(elapsed), duration(left),
        )  # fmt: skip


def duration(seconds: float) -> str:
    """'42 s', '3 min 5 s' or '2 h 10 min'; '?' when unknown."""
    if seconds != seconds:  # NaN: nothing done yet
        return "?"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def log_likelihood_plan(
    n_images: int, k: int, samples_codes: bool, normalised: bool, ais: Mapping[str, Any],
    conservative: Mapping[str, Any] | None,
) -> None:  # fmt: skip
    """Say in the log what a log-likelihood of `n_images` images will run, in order, so that the meters' reports that
    follow can be read: RAISE, importance sampling (or the free energy of an RBM on the pixels), AIS with its check."""
    parts, shared = [], False
    if conservative is not None and not normalised:
        k_raise, chains = conservative["K"], conservative["chains"]
        at = f" at K = {k_raise:,} and {4 * k_raise:,} ({chains} chains" if samples_codes else " (1 chain"
        steps = f"{_steps(conservative['schedule']):,} steps"
        if conservative.get("long_schedule"):
            steps += f", and {_steps(conservative['long_schedule']):,} with the long schedule"
        parts.append(f"RAISE{at} per image, {steps})")
        shared = samples_codes and k in (k_raise, 4 * k_raise)
    if not shared:
        parts.append(f"importance sampling at K = {k:,}" if samples_codes else "the free energy of each image")
    if normalised:
        parts.append("no log Z (a normalised prior)")
    else:
        steps, half = _steps(ais["schedule"]), sum(max(1, int(count) // 2) for _, count in ais["schedule"])
        parts.append(f"log Z by AIS ({ais['runs']:,} runs of {steps:,} steps) checked by a run of {half:,} steps")
    log.info("log-likelihood of %s images: %s", f"{n_images:,}", ", then ".join(parts))


def _steps(schedule: Sequence[Sequence[float]]) -> int:
    return sum(int(count) for _, count in schedule)
