"""Where the workflow writes each artifact under the run's output directory: the one definition of the
results layout, which the plan of jobs (binlatent.plan) lays every job's files out by.

Arguments may be Snakemake wildcards such as "{model}"; the methods only join paths.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

BENCHMARKS = "benchmarks"  # per-job Snakemake benchmark TSVs, one folder per run
MODEL_FILES = {"checkpoint": "model.pt", "curves": "curves.h5", "evaluation": "evaluation.h5", "metrics": "metrics.csv"}


def stack_name(layers: Sequence[int]) -> str:
    """The name of a stack of prior layers by their hidden units, bottom first: [100, 50] -> 'h100-h50'."""
    return "-".join(f"h{n}" for n in layers)


def stack_prefixes(layers: Sequence[int]) -> list[str]:
    """The names of the stack's first 1, 2, .. layers: each a pretraining job that stacks of the same bottom
    layers share."""
    return [stack_name(layers[: i + 1]) for i in range(len(layers))]


@dataclass(frozen=True)
class Layout:
    """The results layout of one run, rooted at `outdir`."""

    outdir: str

    def path(self, *parts: str) -> str:
        return os.path.join(self.outdir, *parts)

    def data(self, dataset: str) -> str:
        """The data stage's HDF5 of the splits."""
        return self.path("data", f"{dataset}.h5")

    def autoencoder(self, pretraining: str) -> str:
        """Stage one's checkpoint of the networks named `pretraining` (binlatent.plan.pretraining_name: how they
        start and their decoder, e.g. rbm_stack-mirrored)."""
        return self.path("stage1", pretraining, "autoencoder.pt")

    def codes(self, pretraining: str) -> str:
        """Stage one's binary codes of every split, with its training curves."""
        return self.path("stage1", pretraining, "codes.h5")

    def encoder_rbm(self, layer: int | str, file: str = "rbm.pt") -> str:
        """The RBM stack that starts stage one's networks (stage1.init: rbm_stack): layer 1 on the pixels, each
        next on the hidden units of the one below; `file` rbm.pt, curves.h5 or codes.h5 (the next layer's data)."""
        return self.path("stage1", "rbm_stack", f"rbm{layer}", file)

    def prior(self, pretraining: str, stack: str) -> str:
        """Stage two's checkpoint of the top RBM of the prior layers `stack` (see `stack_name`): h100 is an RBM
        with 100 hidden units on the codes, h100-h50 one with 50 on that RBM's hidden units; on the codes of the
        stage one named `pretraining`."""
        return self.path("stage2", pretraining, stack, "prior.pt")

    def prior_curves(self, pretraining: str, stack: str) -> str:
        return self.path("stage2", pretraining, stack, "prior_curves.h5")

    def prior_codes(self, pretraining: str, stack: str) -> str:
        """The hidden units of the top RBM of `stack` sampled on its data, every split: the next layer's data."""
        return self.path("stage2", pretraining, stack, "codes.h5")

    def model(self, name: str, kind: str) -> str:
        """A model's file of MODEL_FILES' `kind`: checkpoint, curves, evaluation or metrics."""
        return self.path(name, MODEL_FILES[kind])

    def figures(self) -> str:
        """The figures stage's folder: the figures, the results table and the margins."""
        return self.path("figures")

    def seeded(self, seed: int | str) -> Layout:
        """The layout of one training seed's run, <outdir>/seed<N>/, when a run has several (config['seeds']):
        its pretraining, models, logs and resume state; the data and the figures stay at the top."""
        return Layout(self.path(f"seed{seed}"))

    def tuning_point(self, model: str, lr: str, wd: str, file: str) -> str:
        """A file (model.pt, curves.h5) of one grid point of the tuning sweep: `model` trained at step `lr` and
        weight decay `wd` (binlatent.tuning.value_name)."""
        return self.path("tuning", model, f"lr{lr}_wd{wd}", file)

    def tuning(self, file: str) -> str:
        """The sweep's table (tuning.csv, tuning.md), figure (tuning.png) and chosen values (chosen.yaml)."""
        return self.path("tuning", file)

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
