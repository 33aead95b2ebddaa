"""Evaluation: importance-sampled test log-likelihood, AIS / reverse / exact log Z; HDF5 and CSV."""

from binlatent import stages
from binlatent.script import run_logged

run_logged(
    snakemake,
    lambda: stages.evaluate_stage(
        snakemake.config,
        snakemake.input.data,
        snakemake.input.checkpoint,
        snakemake.output.evaluation,
        snakemake.output.metrics,
        snakemake.threads,
    ),
)
