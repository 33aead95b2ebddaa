"""Where the workflow writes each artifact under the run's output directory: the one definition of the
results layout, used by the rules (workflow/rules/common.smk) and the benchmark suite (bench/).

Arguments may be Snakemake wildcards such as "{model}"; the methods only join paths.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

BENCHMARKS = "benchmarks"  # per-job Snakemake benchmark TSVs, one folder per run
MODEL_FILES = {"checkpoint": "model.pt", "curves": "curves.h5", "evaluation": "evaluation.h5", "metrics": "metrics.csv"}


STAGE1_INITS = ("random", "rbm_stack")  # how stage one's networks start: stage1.init, or a model's `stage1_init`
DECODERS = ("mirrored", "autoregressive")  # the decoder of p(x|z): network.decoder, or a model's `decoder`


def decoder_of(network: Mapping[str, Any] | None) -> str:
    """The decoder that network settings build: network['decoder'], or 'mirrored' for settings (and checkpoints)
    made before the key."""
    return (network or {}).get("decoder", "mirrored")


def stage1_variant(init: str, decoder: str = "") -> str:
    """The suffix of the stage-one and stage-two folders for stage one's start, '' (random) or '-rbm_stack',
    followed by '-<decoder>' when stage one trains a decoder other than the run's network.decoder (`decoder` ''
    for the run's own): '', '-rbm_stack', '-rbm_stack-autoregressive', '-autoregressive', ..."""
    return ("" if init == "random" else f"-{init}") + (f"-{decoder}" if decoder else "")


def stage1_variants(default_decoder: str) -> list[str]:
    """Every stage-one variant a run whose network.decoder is `default_decoder` can name: each start, with the
    run's decoder or another."""
    others = ["", *(d for d in DECODERS if d != default_decoder)]
    return [stage1_variant(init, decoder) for init in STAGE1_INITS for decoder in others]


def variant_parts(variant: str) -> tuple[str, str]:
    """The start and the decoder of a stage-one variant (see `stage1_variant`): '-rbm_stack-autoregressive' ->
    ('rbm_stack', 'autoregressive'); the decoder is '' for the run's own."""
    parts = variant.removeprefix("-").split("-") if variant else []
    init = parts.pop(0) if parts and parts[0] in STAGE1_INITS else "random"
    decoder = parts.pop(0) if parts and parts[0] in DECODERS else ""
    if parts:
        raise ValueError(f"{variant!r} is not a stage-one variant: a start of {STAGE1_INITS}, a decoder of {DECODERS}")
    return init, decoder


def stack_name(layers: Sequence[int]) -> str:
    """The name of a stack of prior layers by their hidden units, bottom first: [100, 50] -> 'h100-h50'."""
    return "-".join(f"h{n}" for n in layers)


def stack_prefixes(layers: Sequence[int]) -> list[str]:
    """The names of the stack's first 1, 2, .. layers: each a pretraining job that stacks of the same bottom
    layers share."""
    return [stack_name(layers[: i + 1]) for i in range(len(layers))]


def stack_below(stack: str) -> str:
    """The stack under the top layer of `stack` ('' for one layer): h100-h50 -> h100."""
    return stack.rpartition("-")[0]


def stack_top_units(stack: str) -> int:
    """The hidden units of the top layer of `stack`: h100-h50 -> 50."""
    return int(stack.rpartition("-")[2].removeprefix("h"))


@dataclass(frozen=True)
class Layout:
    """The results layout of one run, rooted at `outdir`."""

    outdir: str

    def path(self, *parts: str) -> str:
        return os.path.join(self.outdir, *parts)

    def data(self, dataset: str) -> str:
        """The data stage's HDF5 of the splits."""
        return self.path("data", f"{dataset}.h5")

    def autoencoder(self, variant: str = "") -> str:
        """Stage one's checkpoint; `variant` (see `stage1_variant`) names a start other than random weights."""
        return self.path(f"stage1{variant}", "autoencoder.pt")

    def codes(self, variant: str = "") -> str:
        """Stage one's binary codes of every split, with its training curves."""
        return self.path(f"stage1{variant}", "codes.h5")

    def encoder_rbm(self, layer: int | str, file: str = "rbm.pt") -> str:
        """The RBM stack that starts stage one's networks (stage1.init: rbm_stack): layer 1 on the pixels, each
        next on the hidden units of the one below; `file` rbm.pt, curves.h5 or codes.h5 (the next layer's data)."""
        return self.path(f"stage1{stage1_variant('rbm_stack')}", f"rbm{layer}", file)

    def prior(self, stack: str, variant: str = "") -> str:
        """Stage two's checkpoint of the top RBM of the prior layers `stack` (see `stack_name`): h100 is an RBM
        with 100 hidden units on the codes, h100-h50 one with 50 on that RBM's hidden units; on the codes of
        stage one's `variant`."""
        return self.path(f"stage2{variant}", stack, "prior.pt")

    def prior_curves(self, stack: str, variant: str = "") -> str:
        return self.path(f"stage2{variant}", stack, "prior_curves.h5")

    def prior_codes(self, stack: str, variant: str = "") -> str:
        """The hidden units of the top RBM of `stack` sampled on its data, every split: the next layer's data."""
        return self.path(f"stage2{variant}", stack, "codes.h5")

    def model(self, name: str, kind: str) -> str:
        """A model's file of MODEL_FILES' `kind`: checkpoint, curves, evaluation or metrics."""
        return self.path(name, MODEL_FILES[kind])

    def figures(self) -> str:
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
