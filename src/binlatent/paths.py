"""Where the workflow writes each artifact under the run's output directory: the one definition of the
results layout, used by the rules (workflow/rules/common.smk) and the benchmark suite (bench/).

Arguments may be Snakemake wildcards such as "{model}"; the methods only join paths.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

BENCHMARKS = "benchmarks"  # per-job Snakemake benchmark TSVs, one folder per run
MODEL_FILES = {"checkpoint": "model.pt", "curves": "curves.h5", "evaluation": "evaluation.h5", "metrics": "metrics.csv"}


@dataclass(frozen=True)
class Layout:
    """The results layout of one run, rooted at `outdir`."""

    outdir: str

    def path(self, *parts: str) -> str:
        return os.path.join(self.outdir, *parts)

    def data(self, dataset: str) -> str:
        """The data stage's HDF5 of the splits."""
        return self.path("data", f"{dataset}.h5")

    def autoencoder(self) -> str:
        """Stage one's checkpoint."""
        return self.path("stage1", "autoencoder.pt")

    def codes(self) -> str:
        """Stage one's binary codes of every split, with its training curves."""
        return self.path("stage1", "codes.h5")

    def prior(self, n_hidden: int | str) -> str:
        """Stage two's checkpoint of the RBM prior with n_hidden hidden units."""
        return self.path("stage2", f"h{n_hidden}", "prior.pt")

    def prior_curves(self, n_hidden: int | str) -> str:
        return self.path("stage2", f"h{n_hidden}", "prior_curves.h5")

    def model(self, name: str, kind: str) -> str:
        """A model's file of MODEL_FILES' `kind`: checkpoint, curves, evaluation or metrics."""
        return self.path(name, MODEL_FILES[kind])

    def figures(self) -> str:
        return self.path("figures")

    def log(self, job: str) -> str:
        return self.path("logs", f"{job}.log")

    def benchmark(self, job: str) -> str:
        return self.path(BENCHMARKS, f"{job}.tsv")

    def bench(self) -> str:
        """The benchmark suite's measurements (bench/run.py)."""
        return self.path("bench", "bench.json")

    def resume_state(self, job: str) -> str:
        """Resumable training state: kept outside the rule's outputs, so a failed job's cleanup keeps it."""
        return self.path(".state", f"{job}.pt")
